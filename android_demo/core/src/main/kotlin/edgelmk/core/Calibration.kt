package edgelmk.core

import kotlin.math.abs
import kotlin.math.exp
import kotlin.math.ln
import kotlin.math.max
import kotlin.math.sqrt

/**
 * The model's confidence calibration, mirroring ``edge_lmk/confidence.py``: per face region,
 * monotone breakpoint maps from the predicted Laplace scale to the expected point error, and the
 * face quality = estimated P(NME <= 8%). Read from the artifact sidecar (``"calibration"``,
 * written by the exporter from the model card), so the app shows the same numbers as Python.
 */
class MonotoneMap(val x: DoubleArray, val y: DoubleArray) {
    init {
        require(x.size >= 2 && x.size == y.size) { "calibration map needs matching x/y with >= 2 entries" }
        for (i in 1 until x.size) require(x[i] > x[i - 1] && y[i] >= y[i - 1]) {
            "calibration map must have x increasing and y non-decreasing"
        }
    }

    /** Linear between breakpoints, flat below the first, proportional (y_last * s / x_last) above the last. */
    operator fun invoke(s0: Double): Double {
        val s = max(s0, 0.0)
        if (s <= x[0]) return y[0]
        val n = x.size
        if (s > x[n - 1]) return y[n - 1] * s / x[n - 1]
        var i = 1
        while (x[i] < s) i++
        val t = (s - x[i - 1]) / (x[i] - x[i - 1])
        return y[i - 1] + t * (y[i] - y[i - 1])
    }
}

class Calibration(
    val regions: Map<String, IntRange>,
    val iod: Map<String, MonotoneMap>,
    val px: Map<String, MonotoneMap>,
    val mu: Double,
    val sigma: Double,
    val failureNme: Double,
) {
    private fun apply(maps: Map<String, MonotoneMap>, values: DoubleArray): DoubleArray {
        val out = DoubleArray(values.size)
        for ((name, range) in regions) {
            val m = maps.getValue(name)
            for (i in range) out[i] = m(values[i])
        }
        return out
    }

    /** (68) scale in crop px, predicted inter-ocular distance in crop px -> expected point error, % IOD. */
    fun expectedErrorIod(scale: FloatArray, iodCropPx: Double): DoubleArray {
        val d = max(iodCropPx, 0.1)  // as normalized_scale: a collapsed prediction reads as very uncertain
        return apply(iod, DoubleArray(scale.size) { 100.0 * scale[it].toDouble() / d })
    }

    /** (68) scale in crop px -> expected point error in crop px. */
    fun expectedErrorPx(scale: FloatArray): DoubleArray = apply(px, DoubleArray(scale.size) { scale[it].toDouble() })

    /** Predicted NME (%): the mean expected point error. */
    fun expectedNme(scale: FloatArray, iodCropPx: Double): Double = expectedErrorIod(scale, iodCropPx).average()

    /** Estimated probability that the face's NME is <= [failureNme]: Phi((ln 8 - ln e - mu) / sigma). */
    fun quality(scale: FloatArray, iodCropPx: Double): Double {
        val e = max(expectedNme(scale, iodCropPx), 1e-9)
        return normalCdf((ln(failureNme) - ln(e) - mu) / sigma)
    }

    companion object {
        const val FORMAT = "edge-lmk-calibration/1"

        /** Outer eye corners (36, 45) distance of (68*2) x,y landmarks, in their unit. */
        fun interOcular(landmarks: FloatArray): Double {
            // widen before subtracting, as Python (float64) does
            val dx = landmarks[72].toDouble() - landmarks[90].toDouble()
            val dy = landmarks[73].toDouble() - landmarks[91].toDouble()
            return sqrt(dx * dx + dy * dy)
        }

        /** The calibration in a sidecar's metadata ([PreprocessContract.metadata]), or null when it has none. */
        fun fromMetadata(meta: Map<String, Any?>): Calibration? = meta["calibration"].asObject()?.let { parse(it) }

        fun parse(o: Map<String, Any?>): Calibration {
            require(o["format"] == FORMAT) { "calibration: not an $FORMAT table" }
            val regions = o.obj("regions").mapValues { (k, v) ->
                val r = (v as? List<Any?>)?.doubles() ?: throw IllegalArgumentException("calibration: region $k")
                r[0].toInt() until r[1].toInt()
            }
            fun maps(unit: String) = o.obj(unit).mapValues { (_, v) ->
                val m = v.asObject() ?: throw IllegalArgumentException("calibration: $unit map")
                MonotoneMap(m.list("x").doubles(), m.list("y").doubles())
            }
            val iod = maps("iod")
            val px = maps("px")
            require(iod.keys == regions.keys && px.keys == regions.keys) { "calibration: maps do not cover the regions" }
            val q = o.obj("quality")
            val sigma = q.num("sigma")
            require(sigma > 0.0) { "calibration: sigma must be > 0" }
            return Calibration(regions, iod, px, q.num("mu"), sigma, q.num("failure_nme"))
        }

        /** Standard normal CDF via erfc (Numerical Recipes' Chebyshev fit, relative error < 1.2e-7). */
        fun normalCdf(z: Double): Double = 0.5 * erfc(-z / sqrt(2.0))

        private fun erfc(x: Double): Double {
            val z = abs(x)
            val t = 1.0 / (1.0 + 0.5 * z)
            val r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
                t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
                t * (-0.82215223 + t * 0.17087277)))))))))
            return if (x >= 0) r else 2.0 - r
        }
    }
}
