package edgelmk.core

import kotlin.test.assertEquals

fun frameTests(s: Suite) {
    // 3x2 RGBA frame with 4 padding bytes per row; R channel = 10*x + y
    val w = 3; val h = 2; val stride = w * 4 + 4
    val rgba = ByteArray(stride * h).also { for (y in 0 until h) for (x in 0 until w) { it[y * stride + x * 4] = (10 * x + y).toByte(); it[y * stride + x * 4 + 3] = -1 } }
    fun red(img: RgbImage) = (0 until img.height).map { y -> (0 until img.width).map { x -> img.get(x, y, 0) } }

    s.test("frame: RGBA rows with stride padding -> upright RGB for each rotation") {
        assertEquals(listOf(listOf(0, 10, 20), listOf(1, 11, 21)), red(FrameConverter.rgbaToUpright(rgba, w, h, stride, 0)))
        // 90 clockwise: the left column, read bottom to top, becomes the top row
        assertEquals(listOf(listOf(1, 0), listOf(11, 10), listOf(21, 20)), red(FrameConverter.rgbaToUpright(rgba, w, h, stride, 90)))
        assertEquals(listOf(listOf(21, 11, 1), listOf(20, 10, 0)), red(FrameConverter.rgbaToUpright(rgba, w, h, stride, 180)))
        assertEquals(listOf(listOf(20, 21), listOf(10, 11), listOf(0, 1)), red(FrameConverter.rgbaToUpright(rgba, w, h, stride, 270)))
    }
    s.test("frame: view transform fills the view centred and mirrors the front camera") {
        val t = ViewTransform(480, 640, 1080.0, 1920.0, mirror = false)  // 3:4 frame in a 9:16 view
        assertClose(3.0, t.scale, 1e-12, "scale covers the view")
        assertClose(1080.0 / 2 - 1440.0 / 2, t.x(0.0, 0.0), 1e-9, "cropped left edge")
        assertClose(1920.0 / 2, t.y(0.0, 320.0), 1e-9, "centre row")
        val m = ViewTransform(480, 640, 1080.0, 1920.0, mirror = true)
        assertClose(1080.0 - t.x(100.0, 0.0), m.x(100.0, 0.0), 1e-9, "mirrored")
        assertEquals(listOf(t.x(1.0, 2.0).toFloat(), t.y(1.0, 2.0).toFloat()), t.map(doubleArrayOf(1.0, 2.0)).toList())
    }
}
