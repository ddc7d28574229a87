package edgelmk.core

import kotlin.test.assertEquals
import kotlin.test.assertFailsWith

fun benchReportTests(s: Suite) {
    val g = Golden(s.golden)
    s.test("bench: median and p90 equal numpy's median / percentile(90)") {
        val lat = g.index.obj("latency")
        val st = LatencyStats.of(lat.list("samples").doubles())
        assertClose(lat.num("median"), st.median, 1e-12, "median")
        assertClose(lat.num("p90"), st.p90, 1e-12, "p90")
        assertEquals(lat.list("samples").size, st.runs)
        assertEquals(LatencyStats(2.5, 3.7, 4), LatencyStats.of(doubleArrayOf(4.0, 1.0, 3.0, 2.0)).copy(p90 = 3.7))
        assertClose(3.7, LatencyStats.of(doubleArrayOf(4.0, 1.0, 3.0, 2.0)).p90, 1e-12, "p90 of 1..4")
    }
    s.test("bench: the report has the device-bench schema and reads back") {
        val device = DeviceInfo("Pixel 8 (test)", "Pixel 8", "Google Tensor G3", "14", 34)
        val results = listOf(
            BenchResult("laplacekl_w1_8", "pte", "fp32", "executorch-xnnpack", 4, 41.5, LatencyStats(0.82, 0.95, 192), 3.61, 64),
            BenchResult("laplacekl_w1_8", "tflite", "int8", "litert-cpu", 1, 12.0, LatencyStats(1.1, 1.3, 192), Double.NaN, 64),
        )
        val text = BenchReport.toJson(device, results)
        val root = Json.parseObject(text)
        assertEquals(listOf("schema", "device", "results"), root.keys.toList())
        assertEquals(listOf("name", "model", "soc", "android"), root.obj("device").keys.toList())
        val r0 = root.list("results")[0].asObject()!!
        assertEquals(listOf("model", "format", "precision", "backend", "threads", "load_ms", "latency_ms", "nme", "n"), r0.keys.toList())
        assertEquals(listOf("median", "p90", "runs"), r0.obj("latency_ms").keys.toList())
        assertEquals(null, root.list("results")[1].asObject()!!["nme"])  // NaN -> null, still valid JSON
        val (d2, r2) = BenchReport.parse(text.replace("null", "0.0"))
        assertEquals(device, d2)
        assertEquals(results[0], r2[0])
        s.reportOut?.let { it.parentFile?.mkdirs(); it.writeText(text) }  // for tests/test_android_core.py
    }
    s.test("bench: a report with the wrong schema is refused") {
        assertFailsWith<IllegalArgumentException> { BenchReport.parse("""{"schema": "other/1"}""") }
    }
}
