package edgelmk.demo

import android.content.Context
import android.os.Build
import android.provider.Settings
import edgelmk.core.Benchmark
import edgelmk.core.BenchReport
import edgelmk.core.BenchResult
import edgelmk.core.DeviceInfo
import edgelmk.core.FaceSet
import edgelmk.core.Json
import edgelmk.core.ModelEntry
import java.io.File

/**
 * Benchmark mode: every bundled model x thread count over the bundled sample faces
 * (assets/bench), written as edge-lmk-device-bench/1 JSON to
 * <external files dir>/edge-lmk-device-bench.json (pulled with adb, see the README).
 * Shared by [BenchmarkActivity] and the instrumented test.
 */
class BenchmarkRunner(private val context: Context, private val log: (String) -> Unit = {}) {
    class Report(val file: File, val results: List<BenchResult>, val referenceNme: Map<String, Double>)

    fun run(threads: List<Int> = listOf(1, 4), warmup: Int = 5, repeats: Int = 3, only: String? = null): Report {
        val files = AssetFiles(context)
        require(files.hasBenchFaces()) { "no assets/bench/index.json: place bench faces with python -m export.android" }
        val indexText = files.bytes("bench/index.json").decodeToString()
        val faces = FaceSet.parse(indexText) { files.bytes("bench/$it") }
        val reference = (Json.parseObject(indexText)["reference_nme"] as? Map<*, *>)?.entries
            ?.associate { (k, v) -> k.toString() to ((v as Map<*, *>)["nme"] as Number).toDouble() } ?: emptyMap()
        val models: List<ModelEntry> = files.models().filter { only == null || it.file == only || it.model == only }
        require(models.isNotEmpty()) { "no models to benchmark" + (only?.let { " matching '$it'" } ?: "") }
        val results = ArrayList<BenchResult>()
        for (entry in models) for (t in threads) {
            log("${entry.file}: $t thread(s)")
            Runtimes.load(entry, files.file(entry.file), t).use { m ->
                val r = Benchmark(entry.contract, warmup, repeats).run(m, faces)
                results.add(BenchResult(entry.model, entry.format, entry.precision, entry.backend, t, m.loadMs, r.latency, r.nme, r.n))
                log(String.format("  load %.1f ms, median %.3f ms, p90 %.3f ms, NME %.3f%% (PyTorch %s)", m.loadMs,
                    r.latency.median, r.latency.p90, r.nme, reference[entry.model]?.let { String.format("%.3f%%", it) } ?: "n/a"))
            }
        }
        val out = File(context.getExternalFilesDir(null) ?: context.filesDir, "edge-lmk-device-bench.json")
        out.writeText(BenchReport.toJson(deviceInfo(), results))
        log("wrote ${out.absolutePath}")
        return Report(out, results, reference)
    }

    private fun deviceInfo(): DeviceInfo {
        val name = Settings.Global.getString(context.contentResolver, Settings.Global.DEVICE_NAME)
            ?: "${Build.MANUFACTURER} ${Build.MODEL}"
        val soc = if (Build.VERSION.SDK_INT >= 31) "${Build.SOC_MANUFACTURER} ${Build.SOC_MODEL}" else Build.HARDWARE
        return DeviceInfo(name, Build.MODEL, soc, Build.VERSION.RELEASE, Build.VERSION.SDK_INT)
    }
}
