package edgelmk.demo

import android.content.Context
import edgelmk.core.ModelCatalog
import edgelmk.core.ModelEntry
import java.io.File

/** The models, detector and bench faces that `python -m export.android` put in assets/. */
class AssetFiles(private val context: Context) {
    private val assets = context.assets

    fun models(): List<ModelEntry> {
        val files = assets.list("")?.toList() ?: emptyList()
        return ModelCatalog.list(files) { name -> assets.open(name).use { it.readBytes().decodeToString() } }
    }

    fun hasDetector(): Boolean = assets.list("")?.contains(ModelCatalog.DETECTOR_FILE) == true

    fun hasBenchFaces(): Boolean = assets.list("bench")?.contains("index.json") == true

    fun bytes(path: String): ByteArray = assets.open(path).use { it.readBytes() }

    /**
     * A real file for an asset: ExecuTorch's Module.load takes a path and both runtimes can
     * memory-map a file. Copied once per app install (re-copied when the size changes).
     */
    fun file(name: String): File {
        val out = File(context.filesDir, "models/$name")
        val size = assets.openFd(name).use { it.length }
        if (!out.isFile || out.length() != size) {
            out.parentFile?.mkdirs()
            val tmp = File(out.path + ".tmp")
            assets.open(name).use { input -> tmp.outputStream().use { input.copyTo(it) } }
            tmp.renameTo(out)
        }
        return out
    }
}
