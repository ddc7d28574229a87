package edgelmk.demo

import edgelmk.core.BlazeFace
import edgelmk.core.Detection
import edgelmk.core.FaceDetector
import edgelmk.core.RgbImage
import java.io.Closeable
import java.io.File
import java.io.FileInputStream
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.FloatBuffer
import java.nio.channels.FileChannel
import org.tensorflow.lite.InterpreterApi

/**
 * MediaPipe BlazeFace short-range on LiteRT, on-device and offline. Letterboxing, anchors,
 * decoding and NMS are the core's [BlazeFace] (tested on the JVM against the real model's
 * outputs); this class only moves tensors. Outputs are told apart by their last dimension
 * (16 regressors vs 1 score), not by index.
 */
class BlazeFaceDetector(file: File, threads: Int = 2) : FaceDetector, Closeable {
    private val interpreter: InterpreterApi
    private val input = ByteBuffer.allocateDirect(4 * BlazeFace.INPUT_SIZE * BlazeFace.INPUT_SIZE * 3).order(ByteOrder.nativeOrder())
    private val regressors: FloatBuffer = direct(BlazeFace.NUM_ANCHORS * BlazeFace.NUM_COORDS)
    private val scores: FloatBuffer = direct(BlazeFace.NUM_ANCHORS)
    private val outputIndex: Map<Int, Any>

    init {
        val mapped = FileInputStream(file).use { it.channel.map(FileChannel.MapMode.READ_ONLY, 0, file.length()) }
        interpreter = InterpreterApi.create(mapped, InterpreterApi.Options().setNumThreads(threads))
        outputIndex = (0 until interpreter.outputTensorCount).associateWith { i ->
            if (interpreter.getOutputTensor(i).shape().last() == BlazeFace.NUM_COORDS) regressors as Any else scores as Any
        }
    }

    override fun detect(image: RgbImage): List<Detection> {
        val (x, toPhoto) = BlazeFace.prepareInput(image)
        input.rewind()
        input.asFloatBuffer().put(x)
        regressors.rewind(); scores.rewind()
        interpreter.runForMultipleInputsOutputs(arrayOf<Any>(input), outputIndex)
        val reg = FloatArray(regressors.capacity()).also { regressors.rewind(); regressors.get(it) }
        val cls = FloatArray(scores.capacity()).also { scores.rewind(); scores.get(it) }
        return BlazeFace.decode(reg, cls, toPhoto)
    }

    override fun close() = interpreter.close()

    private companion object {
        fun direct(n: Int): FloatBuffer = ByteBuffer.allocateDirect(4 * n).order(ByteOrder.nativeOrder()).asFloatBuffer()
    }
}
