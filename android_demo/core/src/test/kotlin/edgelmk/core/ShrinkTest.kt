package edgelmk.core

import kotlin.test.assertContentEquals
import kotlin.test.assertEquals

fun shrinkTests(s: Suite) {
    s.test("shrink: OpenCV INTER_AREA rounding, 2x2 rounds halves up, larger k half to even") {
        // 2x2 block sums 4n+2: OpenCV's 2x2 path gives n+1 for every n
        assertEquals(1, BoxShrink.roundAverage(2, 2))
        assertEquals(2, BoxShrink.roundAverage(6, 2))
        // 4x4 block sums 16n+8: cvRound(n + 0.5) rounds to even
        assertEquals(0, BoxShrink.roundAverage(8, 4))
        assertEquals(2, BoxShrink.roundAverage(24, 4))
        assertEquals(2, BoxShrink.roundAverage(40, 4))
        // 3x3: no ties, plain rounding of sum/9
        assertEquals(1, BoxShrink.roundAverage(13, 3))
        assertEquals(2, BoxShrink.roundAverage(14, 3))
        assertEquals(255, BoxShrink.roundAverage(255 * 49, 7))
    }
    s.test("shrink: a window equals the same region of the whole shrunk photo") {
        val img = syntheticPattern(103, 61)
        for (k in listOf(2, 3, 5)) {
            val full = BoxShrink.full(img, k)
            assertEquals(103 / k, full.width)
            assertEquals(61 / k, full.height)
            val win = BoxShrink.window(img, k, 3, 2, 9, 7)
            val expect = ByteArray(6 * 5 * 3)
            for (y in 0 until 5) for (x in 0 until 6) for (c in 0 until 3)
                expect[(y * 6 + x) * 3 + c] = full.get(3 + x, 2 + y, c).toByte()
            assertContentEquals(expect, win, "k=$k")
        }
    }
    s.test("shrink: a 1-pixel checkerboard averages to mid-grey (every pixel used)") {
        // the Python test_large_photo_is_box_shrunk_before_bilinear, on the Kotlin side
        val n = 800
        val data = ByteArray(n * n * 3)
        for (y in 0 until n) for (x in 0 until n) if ((x + y) % 2 == 1) for (c in 0 until 3) data[(y * n + x) * 3 + c] = 255.toByte()
        val crop = Cropper.crop(RgbImage(n, n, data), FaceSquare(400.0, 400.0, 640.0), 80)
        assertEquals(8, crop.shrink)
        val mean = crop.pixels.average()
        val std = Math.sqrt(crop.pixels.map { (it - mean) * (it - mean) }.average())
        assert(Math.abs(mean - 127.5) < 1.0 && std < 5.0) { "mean $mean std $std" }
    }
    s.test("crop: identity square reproduces the photo and zeros outside") {
        val img = syntheticPattern(8, 8)
        val crop = Cropper.crop(img, FaceSquare(4.0, 4.0, 8.0), 8)
        for (y in 0 until 8) for (x in 0 until 8) for (c in 0 until 3)
            assertEquals(img.get(x, y, c).toFloat(), crop.pixels[(y * 8 + x) * 3 + c], "($x,$y,$c)")
        val off = Cropper.crop(img, FaceSquare(100.0, 100.0, 8.0), 8)
        assert(off.pixels.all { it == 0f }) { "a square off the photo must be all zeros" }
    }
}
