package edgelmk.core

/**
 * Camera frame (CameraX ImageAnalysis, OUTPUT_IMAGE_FORMAT_RGBA_8888: one plane, 4 bytes
 * per pixel, rows [rowStride] bytes apart) -> upright [RgbImage].
 *
 * [rotationDegrees] is ImageInfo.rotationDegrees: the clockwise rotation that makes the
 * buffer upright. The image is not mirrored for the front camera: the model must see the
 * real face (mirroring swaps the subject's left and right landmarks); the overlay mirrors
 * at draw time instead ([ViewTransform]).
 */
object FrameConverter {
    fun rgbaToUpright(rgba: ByteArray, width: Int, height: Int, rowStride: Int, rotationDegrees: Int): RgbImage {
        require(rowStride >= width * 4) { "row stride $rowStride shorter than ${width * 4} bytes" }
        require(rgba.size >= rowStride * (height - 1) + width * 4) { "buffer too small for ${width}x$height" }
        val rot = ((rotationDegrees % 360) + 360) % 360
        require(rot % 90 == 0) { "rotation must be a multiple of 90, got $rotationDegrees" }
        val outW = if (rot == 90 || rot == 270) height else width
        val outH = if (rot == 90 || rot == 270) width else height
        val out = ByteArray(outW * outH * 3)
        for (v in 0 until outH) {
            for (u in 0 until outW) {
                // source pixel that lands on upright (u, v) after a clockwise rotation by rot
                val x: Int; val y: Int
                when (rot) {
                    0 -> { x = u; y = v }
                    90 -> { x = v; y = height - 1 - u }
                    180 -> { x = width - 1 - u; y = height - 1 - v }
                    else -> { x = width - 1 - v; y = u }
                }
                val s = y * rowStride + x * 4
                val d = (v * outW + u) * 3
                out[d] = rgba[s]; out[d + 1] = rgba[s + 1]; out[d + 2] = rgba[s + 2]
            }
        }
        return RgbImage(outW, outH, out)
    }
}
