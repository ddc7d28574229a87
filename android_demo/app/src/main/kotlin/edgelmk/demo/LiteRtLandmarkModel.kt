package edgelmk.demo

import edgelmk.core.LandmarkOutput
import edgelmk.core.ModelEntry
import edgelmk.core.ModelIO
import edgelmk.core.TensorData
import java.io.File
import java.io.FileInputStream
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.FloatBuffer
import java.nio.channels.FileChannel
import org.tensorflow.lite.DataType
import org.tensorflow.lite.InterpreterApi

/**
 * A .tflite through LiteRT's Interpreter API (com.google.ai.edge.litert:litert; the runtime
 * bundled in the APK, XNNPACK on by default). Inputs and outputs must be float32, as the
 * contract says; an int8-I/O model is refused with its actual types in the message.
 */
class LiteRtLandmarkModel(override val entry: ModelEntry, file: File, override val threads: Int) : LoadedModel {
    private val interpreter: InterpreterApi
    private val input: ByteBuffer
    private val outputs: List<Pair<IntArray, FloatBuffer>>
    override val loadMs: Double

    init {
        val t0 = System.nanoTime()
        val mapped = FileInputStream(file).use { it.channel.map(FileChannel.MapMode.READ_ONLY, 0, file.length()) }
        interpreter = InterpreterApi.create(mapped, InterpreterApi.Options().setNumThreads(threads))
        loadMs = (System.nanoTime() - t0) / 1e6
        val inT = interpreter.getInputTensor(0)
        require(inT.dataType() == DataType.FLOAT32) { "${entry.file}: input is ${inT.dataType()}, the contract says float32" }
        require(inT.shape().contentEquals(entry.contract.inputShape)) {
            "${entry.file}: input shape ${inT.shape().contentToString()} != contract ${entry.contract.inputShape.contentToString()}"
        }
        input = ByteBuffer.allocateDirect(inT.numBytes()).order(ByteOrder.nativeOrder())
        outputs = (0 until interpreter.outputTensorCount).map { i ->
            val t = interpreter.getOutputTensor(i)
            require(t.dataType() == DataType.FLOAT32) { "${entry.file}: output $i is ${t.dataType()}, expected float32" }
            t.shape() to ByteBuffer.allocateDirect(t.numBytes()).order(ByteOrder.nativeOrder()).asFloatBuffer()
        }
    }

    override fun run(input: FloatArray): LandmarkOutput {
        this.input.rewind()
        this.input.asFloatBuffer().put(input)
        outputs.forEach { it.second.rewind() }
        interpreter.runForMultipleInputsOutputs(arrayOf<Any>(this.input), outputs.indices.associateWith { outputs[it].second as Any })
        val tensors = outputs.map { (shape, buf) ->
            buf.rewind()
            TensorData(shape, FloatArray(buf.remaining()).also { buf.get(it) })
        }
        return ModelIO.pickOutputs(tensors, entry.contract.numLandmarks)
    }

    override fun close() = interpreter.close()
}
