package edgelmk.core

import java.io.File
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * The detect-then-track state machine on a real photo (golden face 0), with the real
 * BlazeFace outputs recorded for that photo and a "template" landmark model: it always
 * answers the face's own ground-truth shape in crop coordinates (what a perfect model
 * would say for this face), with a settable confidence.
 */
fun pipelineTests(s: Suite) {
    val g = Golden(s.golden)
    val fixture = File(s.golden, "blazeface")
    s.test("pipeline: detect once, refine on the landmark rule, then track without the detector") {
        val run = PipelineRig(g, fixture)
        val f1 = run.pipeline.process(run.face.image, 0.0)
        assertTrue(f1.detected)
        assertEquals(TrackingPolicy.Verdict.OK, f1.verdict)
        assertEquals(1, run.detectorCalls)
        // the refine pass cropped on the contract rule, which reproduces itself for this model
        // (to the float32 rounding of its outputs)
        val want = FaceGeometry.faceSquare(f1.landmarks!!, g.contract.cropScale)
        assertClose(want.cx, f1.square!!.cx, 1e-5, "cx"); assertClose(want.side, f1.square!!.side, 1e-5, "side")
        assertEquals(f1.landmarks!!.toList(), f1.smoothed!!.toList())  // first sample passes the filter
        for (i in 1..4) {
            val f = run.pipeline.process(run.face.image, i / 30.0)
            assertFalse(f.detected, "frame $i must track")
            assertClose(want.cx, f.square!!.cx, 1e-5, "tracked cx")
            assertMaxDiff(maxAbsDiff(f1.landmarks!!, f.landmarks!!), 1e-4, "a still face stays put")
        }
        assertEquals(1, run.detectorCalls)
        assertTrue(run.modelCalls == 2 + 4, "2 passes on detection + 1 per tracked frame, got ${run.modelCalls}")
    }
    s.test("pipeline: a low-confidence track re-detects in the same frame; no face -> no landmarks") {
        val run = PipelineRig(g, fixture)
        run.pipeline.process(run.face.image, 0.0)
        run.scale = 0.2f * g.contract.inputSize  // above the 0.1 x input threshold
        val lost = run.pipeline.process(run.face.image, 1 / 30.0)
        assertTrue(lost.detected)
        assertEquals(TrackingPolicy.Verdict.LOW_CONFIDENCE, lost.verdict)
        assertNull(lost.landmarks)
        assertEquals(2, run.detectorCalls)
        run.scale = 2f
        val back = run.pipeline.process(run.face.image, 2 / 30.0)
        assertTrue(back.detected && back.landmarks != null)
        assertEquals(3, run.detectorCalls)
        run.detections = emptyList()
        run.pipeline.reset()
        val none = run.pipeline.process(run.face.image, 3 / 30.0)
        assertNull(none.landmarks); assertNull(none.verdict)
        assertTrue(none.timings.totalMs >= none.timings.detectMs && none.timings.detectMs >= 0.0)
    }
}

private class PipelineRig(g: Golden, fixture: File) {
    val face = g.faceSet.load(0)
    var detectorCalls = 0
    var modelCalls = 0
    var scale = 2f
    var detections: List<Detection>
    val pipeline: LandmarkPipeline

    init {
        val index = Json.parseObject(File(fixture, "index.json").readText()).list("faces")[0].asObject()!!
        require(index.str("name") == g.faces[0].str("name")) { "fixture face 0 is not golden face 0" }
        detections = BlazeFace.decode(Raw.floats(File(fixture, index.str("regressors")).readBytes()),
            Raw.floats(File(fixture, index.str("classificators")).readBytes()), Golden.affine(index.list("affine")))
        val template = Golden.affine(g.faces[0].list("affine")).inverse().applyTo(face.landmarks)
        val model = LandmarkModel { input ->
            require(input.size == 3 * g.contract.inputSize * g.contract.inputSize)
            modelCalls++
            LandmarkOutput(FloatArray(template.size) { template[it].toFloat() }, FloatArray(68) { scale })
        }
        pipeline = LandmarkPipeline(g.contract, model, FaceDetector { detectorCalls++; detections })
    }
}
