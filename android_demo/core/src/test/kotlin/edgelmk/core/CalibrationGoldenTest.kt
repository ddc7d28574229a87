package edgelmk.core

import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNull
import kotlin.test.assertTrue

fun calibrationGoldenTests(s: Suite) {
    val g = Golden(s.golden)
    val cal = g.index["calibration"].asObject()
    if (cal == null) {
        s.test("calibration: golden index has a calibration section") { throw AssertionError("no calibration in index.json") }
        return
    }
    val table = cal.obj("table")
    val c = Calibration.parse(table)

    s.test("calibration: expected errors and quality equal edge_lmk.confidence on the golden faces") {
        var worstIod = 0.0
        var worstPx = 0.0
        var worstQ = 0.0
        for ((i, f) in g.faces.withIndex()) {
            val want = cal.list("faces")[i].asObject()!!
            val scale = g.floats(f.str("out_scale"))
            val iod = Calibration.interOcular(g.floats(f.str("out_landmarks")))
            assertClose(want.num("iod_crop_px"), iod, 1e-9, "inter-ocular distance")
            worstIod = maxOf(worstIod, maxAbsDiff(c.expectedErrorIod(scale, iod), g.doubles(want.str("expected_error_iod"))))
            worstPx = maxOf(worstPx, maxAbsDiff(c.expectedErrorPx(scale), g.doubles(want.str("expected_error_px"))))
            worstQ = maxOf(worstQ, Math.abs(c.quality(scale, iod) - want.num("quality")))
        }
        s.measure("expected point error (% IOD, calibration maps)", worstIod, 1e-9)
        s.measure("expected point error (crop px)", worstPx, 1e-9)
        s.measure("face quality (normal CDF approximation)", worstQ, 1e-6)
        assertMaxDiff(worstIod, 1e-9, "expected error % IOD")
        assertMaxDiff(worstPx, 1e-9, "expected error px")
        assertMaxDiff(worstQ, 1e-6, "quality")
    }
    s.test("calibration: maps are flat below, interpolate, and grow proportionally above the breakpoints") {
        val probes = cal.list("probes").doubles()
        val eyes = cal.list("probe_eyes_iod").doubles()
        val jaw = cal.list("probe_jaw_px").doubles()
        for (i in probes.indices) {
            assertClose(eyes[i], c.iod.getValue("eyes")(probes[i]), 1e-12, "eyes map at ${probes[i]}")
            assertClose(jaw[i], c.px.getValue("jaw")(probes[i]), 1e-12, "jaw map at ${probes[i]}")
        }
    }
    s.test("calibration: read from a sidecar's metadata; absent -> null; malformed -> clear error") {
        val sidecar = Json.write(mapOf("contract" to g.index.obj("contract"), "model" to "m", "calibration" to table))
        val contract = PreprocessContract.parse(sidecar)
        val fromMeta = Calibration.fromMetadata(contract.metadata)
        assertTrue(fromMeta != null && fromMeta.regions == c.regions && fromMeta.mu == c.mu)
        assertNull(Calibration.fromMetadata(PreprocessContract.parse(Json.write(mapOf("contract" to g.index.obj("contract")))).metadata))
        assertFailsWith<IllegalArgumentException> { MonotoneMap(doubleArrayOf(1.0, 2.0), doubleArrayOf(3.0, 1.0)) }
        assertFailsWith<IllegalArgumentException> { Calibration.parse(table.filterKeys { it != "px" }) }
        assertEquals(68, c.regions.values.sumOf { it.count() })
    }
}
