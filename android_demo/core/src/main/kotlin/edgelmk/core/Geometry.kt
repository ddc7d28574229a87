package edgelmk.core

/** A square face region in photo coordinates (continuous: pixel i spans [i, i+1)). */
data class FaceSquare(val cx: Double, val cy: Double, val side: Double)

/**
 * 2x3 affine p = [a b c; d e f] * (x, y, 1). [cropMatrix] maps crop coordinates to photo
 * coordinates, the same direction as ``preprocess.crop_matrix``.
 */
data class Affine(val a: Double, val b: Double, val c: Double, val d: Double, val e: Double, val f: Double) {
    fun x(x: Double, y: Double) = a * x + b * y + c
    fun y(x: Double, y: Double) = d * x + e * y + f

    fun inverse(): Affine {
        val det = a * e - b * d
        require(det != 0.0) { "singular affine" }
        val ia = e / det; val ib = -b / det; val id = -d / det; val ie = a / det
        return Affine(ia, ib, -(ia * c + ib * f), id, ie, -(id * c + ie * f))
    }

    /** Every entry divided by k: photo -> photo shrunk by an integer factor k. */
    fun dividedBy(k: Int): Affine = Affine(a / k, b / k, c / k, d / k, e / k, f / k)

    /** Map interleaved (x0, y0, x1, y1, ...) points. */
    fun applyTo(points: DoubleArray): DoubleArray = DoubleArray(points.size).also { out ->
        for (i in 0 until points.size / 2) {
            val px = points[2 * i]; val py = points[2 * i + 1]
            // same summation order as numpy's pts @ A[:, :2].T + A[:, 2]
            out[2 * i] = a * px + b * py + c
            out[2 * i + 1] = d * px + e * py + f
        }
    }

    fun toList(): List<Double> = listOf(a, b, c, d, e, f)

    companion object {
        /**
         * Crop -> photo for an axis-aligned square sampled to [outSize]^2, as
         * ``preprocess.crop_matrix(square, out_size)`` with no rotation or flip:
         * p = centre + (q - outSize/2) * side/outSize.
         */
        fun cropMatrix(square: FaceSquare, outSize: Int): Affine {
            val s = square.side / outSize
            val h = outSize / 2.0
            return Affine(s, 0.0, square.cx - s * h, 0.0, s, square.cy - s * h)
        }
    }
}

object FaceGeometry {
    /** (cx, cy, extent) of interleaved landmarks: bounding-box centre and its larger side. */
    fun landmarkBox(points: DoubleArray): DoubleArray {
        require(points.size >= 2 && points.size % 2 == 0) { "expected interleaved (x, y) points" }
        var x0 = Double.POSITIVE_INFINITY; var y0 = Double.POSITIVE_INFINITY
        var x1 = Double.NEGATIVE_INFINITY; var y1 = Double.NEGATIVE_INFINITY
        for (i in 0 until points.size / 2) {
            val x = points[2 * i]; val y = points[2 * i + 1]
            if (x < x0) x0 = x; if (x > x1) x1 = x
            if (y < y0) y0 = y; if (y > y1) y1 = y
        }
        return doubleArrayOf((x0 + x1) / 2.0, (y0 + y1) / 2.0, maxOf(x1 - x0, y1 - y0))
    }

    /** The contract's crop rule: square on the landmark-box centre, side = cropScale * extent. */
    fun faceSquare(points: DoubleArray, cropScale: Double): FaceSquare {
        val (cx, cy, extent) = landmarkBox(points)
        return FaceSquare(cx, cy, cropScale * extent)
    }

    /** Inter-ocular distance: outer eye corners 36 and 45 (iBUG 68, 0-based). */
    fun interOcular(points: DoubleArray): Double {
        val dx = points[2 * LEFT_EYE_OUTER] - points[2 * RIGHT_EYE_OUTER]
        val dy = points[2 * LEFT_EYE_OUTER + 1] - points[2 * RIGHT_EYE_OUTER + 1]
        return Math.sqrt(dx * dx + dy * dy)
    }

    const val LEFT_EYE_OUTER = 36
    const val RIGHT_EYE_OUTER = 45
}
