package edgelmk.core

/**
 * The integer box pre-shrink of ``preprocess.shrink_integer``: shrunk pixel (i, j) is the
 * average of photo pixels [k*i, k*i+k) x [k*j, k*j+k), rounded to uint8 exactly as OpenCV's
 * ``cv2.resize(..., INTER_AREA)`` does for an integer factor (the Python reference calls it):
 *  - k == 2: (sum + 2) >> 2, i.e. halves round up (OpenCV's dedicated 2x2 path);
 *  - k >= 3: float32(sum) * float32(1/k^2), rounded half to even (cvRound).
 * Remainder rows/columns (photo size not a multiple of k) are dropped, as in Python.
 *
 * Only the window of shrunk pixels a crop actually reads is computed, so a 4K frame costs
 * the face region, not the whole frame; values are identical to shrinking everything.
 */
object BoxShrink {
    /** Shrunk photo size (width / k, height / k) in integer division. */
    fun shrunkWidth(image: RgbImage, k: Int) = image.width / k
    fun shrunkHeight(image: RgbImage, k: Int) = image.height / k

    fun roundAverage(sum: Int, k: Int): Int {
        if (k == 2) return (sum + 2) shr 2
        val area = k * k
        val v = Math.rint((sum.toFloat() * (1f / area)).toDouble()).toInt()
        return v.coerceIn(0, 255)
    }

    /**
     * Shrunk pixels [x0, x1) x [y0, y1) (shrunk coordinates, already clamped by the caller to
     * the shrunk photo) as interleaved RGB bytes, row-major.
     */
    fun window(image: RgbImage, k: Int, x0: Int, y0: Int, x1: Int, y1: Int): ByteArray {
        require(k >= 2) { "shrink factor must be >= 2, got $k" }
        require(x0 >= 0 && y0 >= 0 && x1 <= shrunkWidth(image, k) && y1 <= shrunkHeight(image, k)) { "window outside the shrunk photo" }
        val w = maxOf(0, x1 - x0); val h = maxOf(0, y1 - y0)
        val out = ByteArray(w * h * 3)
        val src = image.data; val stride = image.width * 3
        val sums = IntArray(3)
        for (j in 0 until h) {
            val py0 = (y0 + j) * k
            for (i in 0 until w) {
                val px0 = (x0 + i) * k
                sums.fill(0)
                for (yy in py0 until py0 + k) {
                    var o = yy * stride + px0 * 3
                    for (xx in 0 until k) {
                        sums[0] += src[o].toInt() and 0xFF
                        sums[1] += src[o + 1].toInt() and 0xFF
                        sums[2] += src[o + 2].toInt() and 0xFF
                        o += 3
                    }
                }
                val d = (j * w + i) * 3
                for (c in 0 until 3) out[d + c] = roundAverage(sums[c], k).toByte()
            }
        }
        return out
    }

    /** The whole shrunk photo (tests and tools; the crop path uses [window]). */
    fun full(image: RgbImage, k: Int): RgbImage {
        val w = shrunkWidth(image, k); val h = shrunkHeight(image, k)
        return RgbImage(w, h, window(image, k, 0, 0, w, h))
    }
}
