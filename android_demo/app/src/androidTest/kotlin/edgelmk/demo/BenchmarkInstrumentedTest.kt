package edgelmk.demo

import androidx.test.ext.junit.runners.AndroidJUnit4
import androidx.test.platform.app.InstrumentationRegistry
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith

/**
 * On-device parity check + benchmark:
 *   ./gradlew :app:connectedAndroidTest   (or the Run button in Android Studio)
 * Runs every bundled model over the bundled faces, writes the same JSON as BenchmarkActivity,
 * and checks each float32 model's on-device NME against the PyTorch NME on the same faces
 * (bench/index.json "reference_nme"): crop, runtime and decoding must agree end to end.
 */
@RunWith(AndroidJUnit4::class)
class BenchmarkInstrumentedTest {
    @Test
    fun bundledModelsMatchPyTorchOnTheSampleFaces() {
        val context = InstrumentationRegistry.getInstrumentation().targetContext
        val report = BenchmarkRunner(context) { android.util.Log.i("edge-lmk-bench", it) }.run(threads = listOf(1, 4))
        assertTrue("no results", report.results.isNotEmpty())
        for (r in report.results) {
            assertTrue("${r.model} ${r.format}: NME ${r.nme}", r.nme.isFinite() && r.n > 0)
            val ref = report.referenceNme[r.model] ?: continue
            // fp32 exports should reproduce PyTorch to well under 0.05 NME points; quantized
            // models carry their own accuracy cost, measured on the host by the exporter
            if (r.precision == "fp32") assertEquals("${r.model} ${r.format} ${r.threads}t vs PyTorch", ref, r.nme, 0.05)
        }
        assertTrue(report.file.length() > 0)
    }
}
