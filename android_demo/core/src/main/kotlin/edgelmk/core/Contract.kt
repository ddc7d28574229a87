package edgelmk.core

/**
 * The preprocessing contract that travels beside every exported model (``<artifact>.json``),
 * mirroring ``edge_lmk/contract.py``. The app reads it instead of hard-coding input size,
 * normalisation or the crop rule, and refuses a contract it cannot honour rather than
 * silently feeding the model the wrong pixels.
 */
data class PreprocessContract(
    val inputSize: Int,
    val numLandmarks: Int,
    val color: String,
    val layout: String,
    val dtype: String,
    val pixelScale: Double,
    val cropRule: String,
    val cropScale: Double,
    /** Extra sidecar fields (model name, precision, ...) when the exporter wrote them. */
    val metadata: Map<String, Any?> = emptyMap(),
) {
    class UnsupportedContract(message: String) : IllegalArgumentException(message)

    /** The model input shape implied by the contract (N, C, H, W). */
    val inputShape: IntArray get() = intArrayOf(1, 3, inputSize, inputSize)

    /** Throws [UnsupportedContract] naming the first field this core cannot implement. */
    fun requireSupported(): PreprocessContract {
        fun check(ok: Boolean, what: String) { if (!ok) throw UnsupportedContract("unsupported contract: $what") }
        check(color == "RGB", "color '$color' (only RGB)")
        check(layout == "NCHW", "layout '$layout' (only NCHW)")
        check(dtype == "float32", "dtype '$dtype' (only float32 inputs)")
        check(cropRule == "landmark_bbox_square", "crop_rule '$cropRule' (only landmark_bbox_square)")
        check(inputSize in 8..1024, "input_size $inputSize")
        check(numLandmarks == 68, "num_landmarks $numLandmarks (the tracker and NME use iBUG-68 indices)")
        check(pixelScale > 0.0 && cropScale > 0.0, "non-positive pixel_scale or crop_scale")
        return this
    }

    companion object {
        /**
         * Parse a contract JSON: either the bare contract (as ``PreprocessContract.to_json``
         * writes it) or a sidecar that nests it under ``"contract"``; the other top-level
         * fields of such a sidecar are kept in [metadata].
         */
        fun parse(text: String): PreprocessContract {
            val root = Json.parseObject(text)
            val nested = root["contract"].asObject()
            val c = nested ?: root
            val meta = if (nested != null) root.filterKeys { it != "contract" } else emptyMap()
            return PreprocessContract(
                inputSize = c.int("input_size"),
                numLandmarks = c.int("num_landmarks"),
                color = c.str("color"),
                layout = c.str("layout"),
                dtype = c.str("dtype"),
                pixelScale = c.num("pixel_scale"),
                cropRule = c.str("crop_rule"),
                cropScale = c.num("crop_scale"),
                metadata = meta,
            )
        }
    }
}
