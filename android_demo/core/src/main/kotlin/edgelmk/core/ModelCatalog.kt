package edgelmk.core

/**
 * A landmark model found in the app's assets: the artifact file and its contract sidecar
 * (``<file>.json``, as ``python -m export.android`` places them).
 */
data class ModelEntry(val file: String, val format: String, val model: String, val precision: String,
                      val contract: PreprocessContract) {
    val isExecuTorch get() = format == "pte"

    /** Backend name in benchmark reports: the runtime and the kernels it runs on. */
    val backend get() = if (isExecuTorch) "executorch-xnnpack" else "litert-cpu"

    val label get() = "$model $precision (${if (isExecuTorch) "ExecuTorch" else "LiteRT"})"
}

object ModelCatalog {
    const val DETECTOR_FILE = "face_detection_short_range.tflite"
    private val PRECISIONS = listOf("fp32", "fp16", "bf16", "int8", "int4", "8da4w", "8da8w", "w8a8", "a8w8", "dynamic_int8", "qat")

    /**
     * Models among [files] (names in one assets folder): every .pte / .tflite except the
     * detector that has a sidecar ``<file>.json``, read with [readText]. A model without a
     * sidecar is skipped, not guessed at; a sidecar the core cannot honour throws.
     */
    fun list(files: Collection<String>, readText: (String) -> String): List<ModelEntry> =
        files.filter { (it.endsWith(".pte") || it.endsWith(".tflite")) && it != DETECTOR_FILE && "$it.json" in files }
            .sorted()
            .map { f ->
                val contract = PreprocessContract.parse(readText("$f.json")).requireSupported()
                val format = f.substringAfterLast('.')
                ModelEntry(f, format, modelNameOf(f, contract.metadata), precisionOf(f, contract.metadata), contract)
            }

    /** Sidecar "precision" when the exporter wrote it, else a known token in the file name. */
    fun precisionOf(file: String, metadata: Map<String, Any?>): String {
        (metadata["precision"] as? String)?.let { return it }
        val stem = file.substringBeforeLast('.').lowercase()
        return PRECISIONS.filter { stem.endsWith("_$it") || stem.contains("_${it}_") }.maxByOrNull { it.length } ?: "unknown"
    }

    /** Sidecar "model", else the file name without extension and precision suffix. */
    fun modelNameOf(file: String, metadata: Map<String, Any?>): String {
        (metadata["model"] as? String)?.let { return it }
        val stem = file.substringBeforeLast('.')
        val p = precisionOf(file, emptyMap())
        return if (p != "unknown" && stem.lowercase().endsWith("_$p")) stem.dropLast(p.length + 1) else stem
    }
}
