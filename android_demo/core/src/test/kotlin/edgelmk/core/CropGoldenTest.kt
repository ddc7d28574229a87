package edgelmk.core

import kotlin.test.assertEquals

/** The synthetic photo formula of edge_lmk/golden.py (PATTERN "edge-lmk-pattern/1"). */
fun syntheticPattern(width: Int, height: Int): RgbImage {
    val data = ByteArray(width * height * 3)
    for (y in 0 until height) for (x in 0 until width) for (c in 0 until 3) {
        val v = x * 37 + y * 91 + c * 53 + ((x * y) and 63) * 3 + ((x xor y) and 15) * 7
        data[(y * width + x) * 3 + c] = (v and 255).toByte()
    }
    return RgbImage(width, height, data)
}

fun cropGoldenTests(s: Suite) {
    val g = Golden(s.golden)
    // Python computes these with the same float32/float64 operations, so the expected
    // deviation is 0; the tolerances are the brief's 1e-3 (0..255 units) and 1e-6 (model input).
    s.test("crop: face squares from ground truth equal Python's face_square") {
        var worst = 0.0
        for (f in g.faces) {
            val sq = FaceGeometry.faceSquare(g.doubles(f.str("landmarks")), g.contract.cropScale)
            val want = Golden.square(f.obj("square"))
            worst = maxOf(worst, Math.abs(sq.cx - want.cx), Math.abs(sq.cy - want.cy), Math.abs(sq.side - want.side))
            val a = Affine.cropMatrix(sq, g.contract.inputSize)
            worst = maxOf(worst, maxAbsDiff(a.toList().toDoubleArray(), f.list("affine").doubles()))
        }
        s.measure("face square + crop affine (photo px)", worst, 1e-9)
        assertMaxDiff(worst, 1e-9, "square/affine")
    }
    s.test("crop: 80x80 crops of the sample faces equal Python's crop_face") {
        var worst = 0.0
        for ((i, f) in g.faces.withIndex()) {
            val face = g.faceSet.load(i)
            val crop = Cropper.crop(face.image, Golden.square(f.obj("square")), g.contract.inputSize)
            assertEquals(1, crop.shrink, "sample faces need no pre-shrink")
            worst = maxOf(worst, maxAbsDiff(crop.pixels, g.floats(f.str("crop"))))
        }
        s.measure("sample-face crops (0..255)", worst, 1e-3)
        assertMaxDiff(worst, 1e-3, "crop pixels")
    }
    s.test("crop: NCHW model input equals Python's to_input") {
        var worst = 0.0
        for ((i, f) in g.faces.withIndex()) {
            val face = g.faceSet.load(i)
            val crop = Cropper.crop(face.image, Golden.square(f.obj("square")), g.contract.inputSize)
            val x = ModelIO.toNchw(crop, g.contract.pixelScale)
            assertEquals(3 * 80 * 80, x.size)
            worst = maxOf(worst, maxAbsDiff(x, g.floats(f.str("input"))))
        }
        s.measure("NCHW model input (0..1)", worst, 1e-6)
        assertMaxDiff(worst, 1e-6, "model input")
    }
    s.test("crop: synthetic pattern pixels equal Python's") {
        for (c in g.synthetic) {
            val img = syntheticPattern(c.int("width"), c.int("height"))
            for (p in c.list("pattern_probe")) {
                val (x, y, ch, v) = (p as List<*>).map { (it as Number).toInt() }
                assertEquals(v, img.get(x, y, ch), "pattern at ($x, $y, $ch)")
            }
        }
    }
    s.test("crop: large photos with integer pre-shrink (k = 2, 4, 7, 15) equal Python") {
        var worst = 0.0
        for (c in g.synthetic) {
            val img = syntheticPattern(c.int("width"), c.int("height"))
            val crop = Cropper.crop(img, Golden.square(c.obj("square")), g.contract.inputSize)
            assertEquals(c.int("shrink"), crop.shrink, "${c.str("name")}: shrink factor")
            assertMaxDiff(maxAbsDiff(crop.toPhoto.toList().toDoubleArray(), c.list("affine").doubles()), 1e-9, "affine")
            val d = maxAbsDiff(crop.pixels, g.floats(c.str("crop")))
            assertMaxDiff(d, 1e-3, "${c.str("name")} crop pixels")
            worst = maxOf(worst, d)
        }
        s.measure("pre-shrunk synthetic crops, k=2/4/7/15 (0..255)", worst, 1e-3)
    }
}
