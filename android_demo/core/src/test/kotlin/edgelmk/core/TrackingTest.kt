package edgelmk.core

import kotlin.test.assertEquals

fun trackingTests(s: Suite) {
    val g = Golden(s.golden)
    val policy = TrackingPolicy.forContract(g.contract)
    val confident = LandmarkOutput(FloatArray(136), FloatArray(68) { 2.0f })

    s.test("tracking: ground-truth landmarks of every golden face pass the sanity check") {
        for ((i, _) in g.faces.withIndex()) {
            val face = g.faceSet.load(i)
            assertEquals(TrackingPolicy.Verdict.OK, policy.check(face.landmarks, confident, 192, 192), face.name)
        }
    }
    s.test("tracking: low confidence (mean scale above 0.1 x input) triggers re-detection") {
        val face = g.faceSet.load(0)
        val unsure = LandmarkOutput(FloatArray(136), FloatArray(68) { 8.5f })
        assertEquals(TrackingPolicy.Verdict.LOW_CONFIDENCE, policy.check(face.landmarks, unsure, 192, 192))
    }
    s.test("tracking: collapsed, tiny and off-photo landmark sets are rejected") {
        val face = g.faceSet.load(0)
        val (cx, cy, _) = FaceGeometry.landmarkBox(face.landmarks)
        // eyes kept, everything else pulled to the centre: IOD / extent explodes
        val collapsed = face.landmarks.copyOf()
        for (k in 0 until 68) if (k != 36 && k != 45) { collapsed[2 * k] = cx; collapsed[2 * k + 1] = cy }
        assertEquals(TrackingPolicy.Verdict.BAD_GEOMETRY, policy.check(collapsed, confident, 192, 192))
        val tiny = DoubleArray(136) { if (it % 2 == 0) cx + (face.landmarks[it] - cx) * 0.1 else cy + (face.landmarks[it] - cy) * 0.1 }
        assertEquals(TrackingPolicy.Verdict.TOO_SMALL, policy.check(tiny, confident, 192, 192))
        val shifted = DoubleArray(136) { if (it % 2 == 0) face.landmarks[it] + 300.0 else face.landmarks[it] }
        assertEquals(TrackingPolicy.Verdict.OUTSIDE, policy.check(shifted, confident, 192, 192))
        val nan = face.landmarks.copyOf().also { it[7] = Double.NaN }
        assertEquals(TrackingPolicy.Verdict.BAD_GEOMETRY, policy.check(nan, confident, 192, 192))
    }
    s.test("tracking: the next square is the contract crop rule on the last landmarks") {
        val face = g.faceSet.load(1)
        val sq = policy.nextSquare(face.landmarks)
        val want = Golden.square(g.faces[1].obj("square"))  // Python: face_square(gt, 1.3)
        assertClose(want.cx, sq.cx, 1e-9, "cx"); assertClose(want.cy, sq.cy, 1e-9, "cy"); assertClose(want.side, sq.side, 1e-9, "side")
    }
}
