package edgelmk.core

/** A landmark model behind any runtime: NCHW float input per the contract -> outputs. */
fun interface LandmarkModel {
    fun run(input: FloatArray): LandmarkOutput
}

/** A face detector behind any runtime: upright photo -> detections in photo pixels, best first. */
fun interface FaceDetector {
    fun detect(image: RgbImage): List<Detection>
}

/** Per-frame stage times in milliseconds; [totalMs] is wall time for the whole frame. */
data class Timings(val detectMs: Double, val preprocessMs: Double, val inferenceMs: Double, val totalMs: Double)

class FrameResult(
    /** Raw landmarks in photo pixels (interleaved x, y), null when no face was accepted. */
    val landmarks: DoubleArray?,
    /** One Euro smoothed landmarks for display. */
    val smoothed: DoubleArray?,
    val square: FaceSquare?,
    /** True when the detector ran this frame (track lost or not started). */
    val detected: Boolean,
    val verdict: TrackingPolicy.Verdict?,
    val timings: Timings,
)

/**
 * Detect once, then track: each frame crops from the previous frame's landmarks
 * ([TrackingPolicy.nextSquare]) and the detector runs only when the track fails the sanity
 * check (then within the same frame, so a lost frame still gets landmarks when a face is
 * there). After a detection the model runs twice: once on the detector square, once on the
 * landmark rule, so the tracked crop matches what the model was trained on from the start.
 */
class LandmarkPipeline(
    private val contract: PreprocessContract,
    private val model: LandmarkModel,
    private val detector: FaceDetector,
    private val policy: TrackingPolicy = TrackingPolicy.forContract(contract),
    private val detectorSquare: DetectorSquare = DetectorSquare(),
    private val smoother: LandmarkSmoother = LandmarkSmoother(),
    private val clock: () -> Long = System::nanoTime,
) {
    private var last: DoubleArray? = null
    private var detectNs = 0L
    private var prepNs = 0L
    private var inferNs = 0L

    fun reset() { last = null; smoother.reset() }

    fun process(image: RgbImage, timeS: Double): FrameResult {
        val start = clock()
        detectNs = 0L; prepNs = 0L; inferNs = 0L
        var detected = false
        var result: Pair<DoubleArray, LandmarkOutput>? = null
        var square: FaceSquare? = null
        var verdict: TrackingPolicy.Verdict? = null

        last?.let { prev ->
            val s = policy.nextSquare(prev)
            square = s
            val r = runOnce(image, s)
            verdict = policy.check(r.first, r.second, image.width, image.height)
            if (verdict == TrackingPolicy.Verdict.OK) result = r
        }
        if (result == null) {
            detected = true
            val t0 = clock()
            val best = detector.detect(image).maxByOrNull { it.width * it.height }  // the nearest face
            detectNs += clock() - t0
            if (best != null) {
                val first = runOnce(image, detectorSquare.square(best, contract.cropScale))
                val s = policy.nextSquare(first.first)
                square = s
                val refined = runOnce(image, s)
                verdict = policy.check(refined.first, refined.second, image.width, image.height)
                if (verdict == TrackingPolicy.Verdict.OK) result = refined
            }
        }

        val accepted = result
        val smoothed = if (accepted != null) {
            last = accepted.first
            smoother.smooth(accepted.first, timeS)
        } else {
            reset()
            null
        }
        val ms = { ns: Long -> ns / 1e6 }
        return FrameResult(accepted?.first, smoothed, square, detected, verdict,
            Timings(ms(detectNs), ms(prepNs), ms(inferNs), ms(clock() - start)))
    }

    private fun runOnce(image: RgbImage, square: FaceSquare): Pair<DoubleArray, LandmarkOutput> {
        val t0 = clock()
        val crop = Cropper.crop(image, square, contract.inputSize)
        val input = ModelIO.toNchw(crop, contract.pixelScale)
        val t1 = clock()
        val out = model.run(input)
        val t2 = clock()
        prepNs += t1 - t0
        inferNs += t2 - t1
        return ModelIO.toPhoto(out, crop) to out
    }
}
