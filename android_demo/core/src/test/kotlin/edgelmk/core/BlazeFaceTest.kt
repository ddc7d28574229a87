package edgelmk.core

import java.io.File
import kotlin.test.assertEquals
import kotlin.test.assertTrue

fun blazeFaceTests(s: Suite) {
    val dir = File(s.golden, "blazeface")

    s.test("blazeface: 896 SSD anchors in MediaPipe's order (16x16x2 then 8x8x6)") {
        val a = BlazeFace.anchors
        assertEquals(896 * 2, a.size)
        assertEquals(listOf(0.03125, 0.03125, 0.03125, 0.03125, 0.09375, 0.03125), a.take(6))
        assertEquals(listOf(0.0625, 0.0625), a.slice(1024..1025))  // first stride-16 anchor
        assertEquals(listOf(0.9375, 0.9375), a.takeLast(2))
    }
    s.test("blazeface: real model outputs decode to the reference detections (photo px)") {
        val index = Json.parseObject(File(dir, "index.json").readText())
        var worst = 0.0
        for (f in index.list("faces").map { it.asObject()!! }) {
            val reg = Raw.floats(File(dir, f.str("regressors")).readBytes())
            val cls = Raw.floats(File(dir, f.str("classificators")).readBytes())
            val a = Golden.affine(f.list("affine"))
            val got = BlazeFace.decode(reg, cls, a)
            val want = f.list("detections").map { it.asObject()!! }
            assertEquals(want.size, got.size, "${f.str("name")}: detections")
            for ((d, w) in got.zip(want)) {
                val box = w.list("box").doubles()
                worst = maxOf(worst, Math.abs(d.score - w.num("score")))
                worst = maxOf(worst, maxAbsDiff(doubleArrayOf(d.xMin, d.yMin, d.width, d.height), box))
                worst = maxOf(worst, maxAbsDiff(d.keypoints, w.list("keypoints").doubles()))
            }
        }
        s.measure("BlazeFace decode + weighted NMS (photo px)", worst, 1e-6)
        assertMaxDiff(worst, 1e-6, "detections")
    }
    s.test("blazeface: letterboxed input covers the photo; the detector square holds the landmarks") {
        val g = Golden(s.golden)
        val face = g.faceSet.load(0)
        val (x, a) = BlazeFace.prepareInput(face.image)
        assertEquals(128 * 128 * 3, x.size)
        assertTrue(x.all { it >= -1f && it <= 1f })
        assertClose(1.5, a.a, 1e-12, "192 px photo -> 128 input")
        // the fixture's first face is golden face 0: its detection square must contain every GT landmark
        val det = Json.parseObject(File(dir, "index.json").readText()).list("faces")[0].asObject()!!.list("detections")[0].asObject()!!
        val b = det.list("box").doubles()
        val d = Detection(det.num("score"), b[0], b[1], b[2], b[3], DoubleArray(12))
        val sq = DetectorSquare().square(d, g.contract.cropScale)
        for (k in 0 until 68) {
            assertTrue(Math.abs(face.landmarks[2 * k] - sq.cx) < sq.side / 2 && Math.abs(face.landmarks[2 * k + 1] - sq.cy) < sq.side / 2, "landmark $k")
        }
    }
    s.test("blazeface: synthetic logits decode to the encoded box; weighted NMS merges overlaps") {
        val reg = FloatArray(896 * 16)
        val cls = FloatArray(896) { -20f }
        // anchor 0 (centre 0.03125, 0.03125) and anchor 1 (same cell): two overlapping boxes
        fun encode(i: Int, cx: Double, cy: Double, w: Double, h: Double, logit: Float) {
            reg[i * 16] = ((cx - BlazeFace.anchors[2 * i]) * 128).toFloat()
            reg[i * 16 + 1] = ((cy - BlazeFace.anchors[2 * i + 1]) * 128).toFloat()
            reg[i * 16 + 2] = (w * 128).toFloat(); reg[i * 16 + 3] = (h * 128).toFloat()
            cls[i] = logit
        }
        encode(600, 0.5, 0.5, 0.25, 0.25, 3f)
        encode(601, 0.5, 0.5, 0.25, 0.25, 1f)
        encode(100, 0.2, 0.2, 0.1, 0.1, 2f)
        // photo 256 x 128 letterboxed into 128: side 256, scale 2, offset (0, -64)
        val a = Affine.cropMatrix(FaceSquare(128.0, 64.0, 256.0), 128)
        val dets = BlazeFace.decode(reg, cls, a)
        assertEquals(2, dets.size)
        assertClose(1.0 / (1.0 + Math.exp(-3.0)), dets[0].score, 1e-12, "best score kept")
        assertClose(128.0 - 32.0, dets[0].xMin, 1e-3, "xMin"); assertClose(64.0 - 32.0, dets[0].yMin, 1e-3, "yMin")
        assertClose(64.0, dets[0].width, 1e-3, "width")
        assertClose(51.2 - 12.8, dets[1].xMin, 1e-3, "second face")
    }
}
