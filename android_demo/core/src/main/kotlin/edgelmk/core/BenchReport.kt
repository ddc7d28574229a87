package edgelmk.core

/** The phone a benchmark ran on (Build.* fields on Android). */
data class DeviceInfo(val name: String, val model: String, val soc: String, val androidRelease: String, val sdk: Int)

/** One model x backend x thread-count row of a device benchmark. */
data class BenchResult(
    val model: String,
    val format: String,      // "pte" | "tflite"
    val precision: String,   // e.g. "fp32", "int8"
    val backend: String,     // e.g. "executorch-xnnpack", "litert-cpu"
    val threads: Int,
    val loadMs: Double,
    val latency: LatencyStats,
    /** Mean NME (%) of the on-device landmarks vs the faces' ground truth: the on-device parity check. */
    val nme: Double,
    val n: Int,
)

/**
 * Writer for the per-device benchmark JSON, schema ``edge-lmk-device-bench/1``:
 * {"schema", "device": {"name", "model", "soc", "android": {"release", "sdk"}},
 *  "results": [{"model", "format", "precision", "backend", "threads", "load_ms",
 *               "latency_ms": {"median", "p90", "runs"}, "nme", "n"}]}
 */
object BenchReport {
    const val SCHEMA = "edge-lmk-device-bench/1"

    fun toMap(device: DeviceInfo, results: List<BenchResult>): Map<String, Any?> = linkedMapOf(
        "schema" to SCHEMA,
        "device" to linkedMapOf(
            "name" to device.name, "model" to device.model, "soc" to device.soc,
            "android" to linkedMapOf("release" to device.androidRelease, "sdk" to device.sdk),
        ),
        "results" to results.map { r ->
            linkedMapOf(
                "model" to r.model, "format" to r.format, "precision" to r.precision, "backend" to r.backend,
                "threads" to r.threads, "load_ms" to r.loadMs,
                "latency_ms" to linkedMapOf("median" to r.latency.median, "p90" to r.latency.p90, "runs" to r.latency.runs),
                "nme" to r.nme, "n" to r.n,
            )
        },
    )

    fun toJson(device: DeviceInfo, results: List<BenchResult>): String = Json.write(toMap(device, results)) + "\n"

    /** Read a report back (tests, tools); throws naming the first missing or mistyped field. */
    fun parse(text: String): Pair<DeviceInfo, List<BenchResult>> {
        val root = Json.parseObject(text)
        require(root.str("schema") == SCHEMA) { "schema '${root["schema"]}' is not $SCHEMA" }
        val d = root.obj("device")
        val a = d.obj("android")
        val device = DeviceInfo(d.str("name"), d.str("model"), d.str("soc"), a.str("release"), a.int("sdk"))
        val results = root.list("results").map {
            val r = it.asObject() ?: throw IllegalArgumentException("results: expected objects")
            val l = r.obj("latency_ms")
            BenchResult(r.str("model"), r.str("format"), r.str("precision"), r.str("backend"), r.int("threads"),
                r.num("load_ms"), LatencyStats(l.num("median"), l.num("p90"), l.int("runs")), r.num("nme"), r.int("n"))
        }
        return device to results
    }
}
