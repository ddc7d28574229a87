package edgelmk.demo

import edgelmk.core.LandmarkOutput
import edgelmk.core.ModelEntry
import edgelmk.core.ModelIO
import edgelmk.core.TensorData
import java.io.File
import org.pytorch.executorch.EValue
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor

/**
 * A .pte through the ExecuTorch Android AAR (org.pytorch:executorch-android). The exporter
 * delegates to XNNPACK inside the .pte, so no backend choice is made here.
 */
class ExecuTorchLandmarkModel(override val entry: ModelEntry, file: File, override val threads: Int) : LoadedModel {
    private val module: Module
    private val shape: LongArray = entry.contract.inputShape.map { it.toLong() }.toLongArray()
    override val loadMs: Double

    init {
        val t0 = System.nanoTime()
        module = Module.load(file.absolutePath, Module.LOAD_MODE_MMAP, threads)
        module.loadMethod("forward")  // pay method init here, not in the first timed run
        loadMs = (System.nanoTime() - t0) / 1e6
    }

    override fun run(input: FloatArray): LandmarkOutput {
        val outputs = module.forward(EValue.from(Tensor.fromBlob(input, shape)))
        val tensors = outputs.map { ev ->
            val t = ev.toTensor()
            TensorData(t.shape().map { it.toInt() }.toIntArray(), t.getDataAsFloatArray())
        }
        return ModelIO.pickOutputs(tensors, entry.contract.numLandmarks)
    }

    override fun close() = module.destroy()
}
