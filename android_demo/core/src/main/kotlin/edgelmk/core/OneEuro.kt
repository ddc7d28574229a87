package edgelmk.core

import kotlin.math.PI
import kotlin.math.abs

/**
 * One Euro filter (Casiez, Roussel, Vogel: "1 € Filter: A Simple Speed-based Low-pass Filter
 * for Noisy Input in Interactive Systems", CHI 2012) for one scalar channel.
 *
 * A first-order low-pass whose cutoff rises with speed: still landmarks are smoothed hard
 * (no jitter), moving ones barely (no lag).
 *  - [minCutoff] (Hz): cutoff at rest. Lower = less jitter, more lag when slow.
 *  - [beta] (1/unit): how fast the cutoff grows with speed (|dx/dt| in units/s). Higher = less lag when fast.
 *  - [dCutoff] (Hz): cutoff of the low-pass on the derivative itself (1 Hz as in the paper).
 * Tuning (the paper's recipe): beta = 0, lower minCutoff until still points stop jittering,
 * then raise beta until fast motion stops lagging. Defaults in [LandmarkSmoother] are for
 * photo-pixel coordinates at 15-60 fps.
 *
 * Each step: alpha(fc, dt) = 1 / (1 + tau/dt), tau = 1 / (2 pi fc);
 * dx = (x - x̂_prev)/dt; dx̂ = dx̂_prev + alpha(dCutoff)(dx - dx̂_prev);
 * fc = minCutoff + beta |dx̂|; x̂ = x̂_prev + alpha(fc)(x - x̂_prev). The first sample passes
 * through; a non-increasing timestamp returns the previous estimate unchanged.
 * Matches the reference in ``edge_lmk/golden.py`` (the golden trace checks it).
 */
class OneEuroFilter(val minCutoff: Double, val beta: Double, val dCutoff: Double = 1.0) {
    init {
        require(minCutoff > 0.0 && dCutoff > 0.0 && beta >= 0.0) { "need minCutoff > 0, dCutoff > 0, beta >= 0" }
    }

    private var x = 0.0
    private var dx = 0.0
    private var t = 0.0
    private var started = false

    fun reset() { started = false }

    /** Filter sample [value] taken at time [timeS] (seconds, increasing). */
    fun filter(value: Double, timeS: Double): Double {
        if (!started) {
            x = value; dx = 0.0; t = timeS; started = true
            return value
        }
        val dt = timeS - t
        if (dt <= 0.0) return x
        val rawDx = (value - x) / dt
        val edx = dx + alpha(dCutoff, dt) * (rawDx - dx)
        val cutoff = minCutoff + beta * abs(edx)
        x += alpha(cutoff, dt) * (value - x)
        dx = edx
        t = timeS
        return x
    }

    companion object {
        fun alpha(cutoff: Double, dt: Double): Double {
            val tau = 1.0 / (2.0 * PI * cutoff)
            return 1.0 / (1.0 + tau / dt)
        }
    }
}

/**
 * One [OneEuroFilter] per landmark coordinate, for display only: the tracker crops from the
 * raw landmarks so smoothing never adds lag to the next crop.
 */
class LandmarkSmoother(
    val minCutoff: Double = DEFAULT_MIN_CUTOFF,
    val beta: Double = DEFAULT_BETA,
    val dCutoff: Double = DEFAULT_D_CUTOFF,
) {
    private var filters: Array<OneEuroFilter> = emptyArray()

    fun reset() { filters.forEach { it.reset() } }

    fun smooth(points: DoubleArray, timeS: Double): DoubleArray {
        if (filters.size != points.size) filters = Array(points.size) { OneEuroFilter(minCutoff, beta, dCutoff) }
        return DoubleArray(points.size) { filters[it].filter(points[it], timeS) }
    }

    companion object {
        /** 1 Hz at rest: ~1 px camera jitter is averaged over ~5 frames at 30 fps. */
        const val DEFAULT_MIN_CUTOFF = 1.0
        /** per px/s: a head turn at 200 px/s raises the cutoff to 11 Hz (little lag). */
        const val DEFAULT_BETA = 0.05
        const val DEFAULT_D_CUTOFF = 1.0
    }
}
