package edgelmk.demo

import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import edgelmk.core.FaceDetector
import edgelmk.core.FrameConverter
import edgelmk.core.FrameResult
import edgelmk.core.LandmarkPipeline
import java.io.Closeable
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicReference

/**
 * CameraX analyzer: RGBA frame -> upright RGB -> detect-or-track pipeline -> [onResult].
 * Runs on one background thread; a model switch requested from the UI is applied between
 * frames, so a model is never closed while it runs.
 */
class FrameAnalyzer(
    private val detector: FaceDetector,
    private val onResult: (Frame) -> Unit,
) : ImageAnalysis.Analyzer, Closeable {
    /** What the overlay draws for one frame. */
    class Frame(val result: FrameResult, val imageWidth: Int, val imageHeight: Int, val fps: Double, val modelLabel: String)

    private val pending = AtomicReference<LoadedModel?>(null)
    private val resetRequested = AtomicBoolean(false)
    private var model: LoadedModel? = null
    private var pipeline: LandmarkPipeline? = null
    private var buffer = ByteArray(0)
    private var lastFrameNs = 0L
    private var fps = 0.0

    /** Switch to [next] before the next frame; a model is only ever closed by its single owner. */
    fun setModel(next: LoadedModel) { pending.getAndSet(next)?.close() }

    /** Forget the current track (e.g. the camera was flipped): the next frame runs the detector. */
    fun resetTracking() = resetRequested.set(true)

    override fun analyze(image: ImageProxy) {
        image.use { frame ->
            pending.getAndSet(null)?.let { next ->
                model?.close()
                model = next
                pipeline = LandmarkPipeline(next.entry.contract, next, detector)
            }
            val p = pipeline ?: return
            if (resetRequested.getAndSet(false)) p.reset()
            val plane = frame.planes[0]
            val buf = plane.buffer.also { it.rewind() }
            if (buffer.size != buf.remaining()) buffer = ByteArray(buf.remaining())
            buf.get(buffer)
            val rgb = FrameConverter.rgbaToUpright(buffer, frame.width, frame.height, plane.rowStride, frame.imageInfo.rotationDegrees)
            val now = System.nanoTime()
            val result = p.process(rgb, now / 1e9)
            if (lastFrameNs != 0L) {
                val inst = 1e9 / (now - lastFrameNs)
                fps = if (fps == 0.0) inst else 0.9 * fps + 0.1 * inst  // smoothed for a readable number
            }
            lastFrameNs = now
            onResult(Frame(result, rgb.width, rgb.height, fps, model!!.entry.label))
        }
    }

    override fun close() {
        pending.getAndSet(null)?.close()
        model?.close(); model = null
    }
}
