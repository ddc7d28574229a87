package edgelmk.core

import kotlin.math.floor

/**
 * A face crop: [size]^2 RGB floats 0..255 in HWC order, and [toPhoto] mapping crop
 * coordinates back to the photo (the ``A`` that ``preprocess.crop_face`` returns).
 */
class Crop(val size: Int, val pixels: FloatArray, val toPhoto: Affine, val shrink: Int)

/**
 * ``preprocess.crop_face`` without rotation or flip, operation for operation, so the pixels
 * match Python to float32 rounding: bilinear sampling at pixel centres (q + 0.5), zeros
 * outside the photo, identical to ``torch.nn.functional.grid_sample(align_corners=False)``;
 * when the square is at least twice the output size the photo is first box-shrunk by
 * k = floor(side / size) ([BoxShrink]) and sampled with the affine divided by k.
 */
object Cropper {
    fun shrinkFactor(side: Double, outSize: Int): Int {
        val scale = side / outSize
        return if (scale >= 2.0) floor(scale).toInt() else 1  // leaves a bilinear step of 1x..2x
    }

    fun crop(image: RgbImage, square: FaceSquare, outSize: Int): Crop {
        require(outSize > 0) { "output size must be positive" }
        require(square.side > 0.0 && square.side.isFinite()) { "face square side must be positive, got ${square.side}" }
        val toPhoto = Affine.cropMatrix(square, outSize)
        val k = shrinkFactor(square.side, outSize)
        val pixels = if (k > 1) {
            val sw = BoxShrink.shrunkWidth(image, k); val sh = BoxShrink.shrunkHeight(image, k)
            if (sw == 0 || sh == 0) {
                // mirrors shrink_integer: a photo smaller than k pixels is returned unshrunk
                sample(Source.whole(image), toPhoto.dividedBy(k), outSize)
            } else {
                sampleShrunk(image, k, sw, sh, toPhoto.dividedBy(k), outSize)
            }
        } else {
            sample(Source.whole(image), toPhoto, outSize)
        }
        return Crop(outSize, pixels, toPhoto, k)
    }

    /** Pixels of a (possibly shrunk) photo: a window of it held in [data], the rest never read. */
    class Source(val data: ByteArray, val x0: Int, val y0: Int, val w: Int, val fullWidth: Int, val fullHeight: Int) {
        companion object {
            fun whole(image: RgbImage) = Source(image.data, 0, 0, image.width, image.width, image.height)
        }
    }

    private fun sampleShrunk(image: RgbImage, k: Int, sw: Int, sh: Int, a: Affine, outSize: Int): FloatArray {
        // The sampled points are an affine image of the output grid, so the extreme integer
        // coordinates read are at the grid corners; computed with the sampler's own formula.
        var minX = Int.MAX_VALUE; var maxX = Int.MIN_VALUE; var minY = Int.MAX_VALUE; var maxY = Int.MIN_VALUE
        for (qy in doubleArrayOf(0.5, outSize - 0.5)) for (qx in doubleArrayOf(0.5, outSize - 0.5)) {
            val fx = floor(a.a * qx + a.b * qy + a.c - 0.5); val fy = floor(a.d * qx + a.e * qy + a.f - 0.5)
            minX = minOf(minX, clampInt(fx)); maxX = maxOf(maxX, clampInt(fx) + 1)
            minY = minOf(minY, clampInt(fy)); maxY = maxOf(maxY, clampInt(fy) + 1)
        }
        val x0 = minX.coerceIn(0, sw); val x1 = (maxX + 1).coerceIn(0, sw)
        val y0 = minY.coerceIn(0, sh); val y1 = (maxY + 1).coerceIn(0, sh)
        val win = BoxShrink.window(image, k, x0, y0, maxOf(x0, x1), maxOf(y0, y1))
        return sample(Source(win, x0, y0, maxOf(0, x1 - x0), sw, sh), a, outSize)
    }

    private fun clampInt(v: Double): Int = v.coerceIn(-1e9, 1e9).toInt()

    /**
     * ``preprocess.sample_bilinear``: coordinates in float64, weights in float32, the four
     * taps accumulated in float32 in the same order (dy, dx) = (0,0), (0,1), (1,0), (1,1).
     */
    fun sample(src: Source, a: Affine, outSize: Int): FloatArray {
        val out = FloatArray(outSize * outSize * 3)
        val acc = FloatArray(3)
        for (j in 0 until outSize) {
            val qy = j + 0.5
            for (i in 0 until outSize) {
                val qx = i + 0.5
                val px = a.a * qx + a.b * qy + a.c - 0.5
                val py = a.d * qx + a.e * qy + a.f - 0.5
                val fx0 = floor(px); val fy0 = floor(py)
                val fx = (px - fx0).toFloat(); val fy = (py - fy0).toFloat()
                val x0 = clampInt(fx0); val y0 = clampInt(fy0)
                acc.fill(0f)
                for (dy in 0..1) {
                    val wy = if (dy == 0) 1f - fy else fy
                    val yi = y0 + dy
                    if (yi < 0 || yi >= src.fullHeight) continue  // weight 0: zeros outside
                    for (dx in 0..1) {
                        val wx = if (dx == 0) 1f - fx else fx
                        val xi = x0 + dx
                        if (xi < 0 || xi >= src.fullWidth) continue
                        val w = wx * wy
                        val o = ((yi - src.y0) * src.w + (xi - src.x0)) * 3
                        acc[0] += w * (src.data[o].toInt() and 0xFF).toFloat()
                        acc[1] += w * (src.data[o + 1].toInt() and 0xFF).toFloat()
                        acc[2] += w * (src.data[o + 2].toInt() and 0xFF).toFloat()
                    }
                }
                val d = (j * outSize + i) * 3
                out[d] = acc[0]; out[d + 1] = acc[1]; out[d + 2] = acc[2]
            }
        }
        return out
    }
}
