package edgelmk.demo

import edgelmk.core.LandmarkModel
import edgelmk.core.ModelEntry
import java.io.Closeable
import java.io.File

/** A landmark model loaded in its runtime, with how long loading took. */
interface LoadedModel : LandmarkModel, Closeable {
    val entry: ModelEntry
    val threads: Int
    val loadMs: Double
}

object Runtimes {
    /** .pte -> ExecuTorch (XNNPACK delegate inside the .pte), .tflite -> LiteRT interpreter (CPU/XNNPACK). */
    fun load(entry: ModelEntry, file: File, threads: Int): LoadedModel =
        if (entry.isExecuTorch) ExecuTorchLandmarkModel(entry, file, threads) else LiteRtLandmarkModel(entry, file, threads)
}
