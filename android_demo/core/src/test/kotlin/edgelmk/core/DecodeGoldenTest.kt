package edgelmk.core

import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertSame

fun decodeGoldenTests(s: Suite) {
    val g = Golden(s.golden)
    fun outputFor(f: Map<String, Any?>) = LandmarkOutput(g.floats(f.str("out_landmarks")), g.floats(f.str("out_scale")))
    // No network runs here: these replay the committed float32 outputs through the same float64
    // formulas as Python, so CPU SIMD paths cannot move them (measured max |diff| 0 .. 2e-15).
    // The tolerances only allow another correct summation order; the float32 spread of a fresh
    // network run across CPUs (1e-3 crop px) is handled where the network runs,
    // tests/test_android_golden.py.

    s.test("decode: PyTorch model outputs map to the same photo landmarks as Python (1e-3 px)") {
        var worst = 0.0
        for ((i, f) in g.faces.withIndex()) {
            val face = g.faceSet.load(i)
            val crop = Cropper.crop(face.image, FaceGeometry.faceSquare(face.landmarks, g.contract.cropScale), g.contract.inputSize)
            val photo = ModelIO.toPhoto(outputFor(f), crop)
            worst = maxOf(worst, maxAbsDiff(photo, g.doubles(f.str("landmarks_photo"))))
        }
        s.measure("landmarks in photo px (crop -> photo affine)", worst, 1e-3)
        assertMaxDiff(worst, 1e-3, "photo landmarks")
    }
    s.test("decode: NME vs ground truth equals edge_lmk.metrics.nme_per_face") {
        var worst = 0.0
        for (f in g.faces) {
            val nme = Nme.perFace(g.doubles(f.str("landmarks_photo")), g.doubles(f.str("landmarks")))
            worst = maxOf(worst, Math.abs(nme - f.num("nme")))
        }
        s.measure("NME (%)", worst, 1e-9)
        assertMaxDiff(worst, 1e-9, "nme")
    }
    s.test("decode: next tracking square from predicted landmarks equals Python's face_square") {
        var worst = 0.0
        val policy = TrackingPolicy.forContract(g.contract)
        for (f in g.faces) {
            val sq = policy.nextSquare(g.doubles(f.str("landmarks_photo")))
            val want = Golden.square(f.obj("next_square"))
            worst = maxOf(worst, Math.abs(sq.cx - want.cx), Math.abs(sq.cy - want.cy), Math.abs(sq.side - want.side))
        }
        s.measure("tracking ROI square (photo px)", worst, 1e-9)
        assertMaxDiff(worst, 1e-9, "next square")
    }
    s.test("decode: mean scale (tracking confidence) equals Python's") {
        for (f in g.faces) assertClose(f.num("mean_scale"), outputFor(f).meanScale(), 1e-5, "mean scale")
    }
    s.test("decode: outputs are picked by shape, in either order") {
        val lm = TensorData(intArrayOf(1, 68, 2), FloatArray(136) { it.toFloat() })
        val sc = TensorData(intArrayOf(1, 68), FloatArray(68) { 1f })
        for (order in listOf(listOf(lm, sc), listOf(sc, lm))) {
            val out = ModelIO.pickOutputs(order, 68)
            assertSame(lm.data, out.landmarks)
            assertSame(sc.data, out.scale)
        }
        assertFailsWith<IllegalArgumentException> { ModelIO.pickOutputs(listOf(lm), 68) }
        assertFailsWith<IllegalArgumentException> { TensorData(intArrayOf(1, 68), FloatArray(3)) }
    }
    s.test("decode: the golden faces load through FaceSet, the benchmark's face format") {
        val set = g.faceSet
        assertEquals(g.faces.size, set.size)
        val face = set.load(0)
        assertEquals(192, face.image.width)
        assertEquals(136, face.landmarks.size)
        assertEquals(g.faces[0].str("name"), face.name)
    }
}
