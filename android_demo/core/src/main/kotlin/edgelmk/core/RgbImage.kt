package edgelmk.core

/**
 * An upright RGB photo, 8 bits per channel, rows top to bottom, pixels interleaved R,G,B
 * (the HxWx3 uint8 layout ``edge_lmk.data.read_image`` returns).
 */
class RgbImage(val width: Int, val height: Int, val data: ByteArray) {
    init {
        require(width > 0 && height > 0) { "empty image ${width}x$height" }
        require(data.size == width * height * 3) { "expected ${width * height * 3} bytes for ${width}x$height RGB, got ${data.size}" }
    }

    /** Channel value 0..255 at integer pixel (x, y). */
    fun get(x: Int, y: Int, c: Int): Int = data[(y * width + x) * 3 + c].toInt() and 0xFF
}
