package edgelmk.core

/** One output tensor as a runtime hands it back: its shape and float data. */
class TensorData(val shape: IntArray, val data: FloatArray) {
    init {
        require(shape.fold(1) { a, b -> a * b } == data.size) { "shape ${shape.contentToString()} does not hold ${data.size} values" }
    }
}

/** Model outputs for one face: crop-pixel landmarks (x0, y0, x1, y1, ...) and per-point scale. */
class LandmarkOutput(val landmarks: FloatArray, val scale: FloatArray) {
    val numLandmarks get() = scale.size

    /** Mean predicted spread in crop pixels (lower = more confident); the tracker's confidence. */
    fun meanScale(): Double = scale.fold(0.0) { s, v -> s + v } / scale.size
}

object ModelIO {
    /**
     * HWC 0..255 crop -> NCHW model input, ``preprocess.to_input``: each value times
     * float32(pixelScale), computed in float32 as numpy does.
     */
    fun toNchw(crop: Crop, pixelScale: Double): FloatArray {
        val n = crop.size * crop.size
        val s = pixelScale.toFloat()
        val out = FloatArray(3 * n)
        for (p in 0 until n) {
            out[p] = crop.pixels[3 * p] * s
            out[n + p] = crop.pixels[3 * p + 1] * s
            out[2 * n + p] = crop.pixels[3 * p + 2] * s
        }
        return out
    }

    /**
     * Pick landmarks (1,K,2) and scale (1,K) among a runtime's outputs by shape, not by
     * position: LiteRT may reorder outputs during conversion, ExecuTorch keeps the tuple order.
     */
    fun pickOutputs(outputs: List<TensorData>, numLandmarks: Int): LandmarkOutput {
        fun dims(t: TensorData) = t.shape.filter { it != 1 }
        val lm = outputs.firstOrNull { dims(it) == listOf(numLandmarks, 2) }
            ?: throw IllegalArgumentException("no ($numLandmarks, 2) landmarks output among ${outputs.map { it.shape.contentToString() }}")
        val sc = outputs.firstOrNull { it !== lm && dims(it) == listOf(numLandmarks) }
            ?: throw IllegalArgumentException("no ($numLandmarks,) scale output among ${outputs.map { it.shape.contentToString() }}")
        return LandmarkOutput(lm.data, sc.data)
    }

    /** Crop-pixel landmarks -> photo coordinates (``preprocess.crop_to_photo``), interleaved x, y. */
    fun toPhoto(output: LandmarkOutput, crop: Crop): DoubleArray =
        crop.toPhoto.applyTo(DoubleArray(output.landmarks.size) { output.landmarks[it].toDouble() })
}
