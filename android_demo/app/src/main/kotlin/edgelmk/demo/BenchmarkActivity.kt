package edgelmk.demo

import android.app.Activity
import android.os.Bundle
import android.widget.ScrollView
import android.widget.TextView

/**
 * Benchmark mode as an Activity:
 *   adb shell am start -n edgelmk.demo/.BenchmarkActivity [--es threads 1,4] [--ei repeats 3] [--es model laplacekl_w1_8]
 * Logs progress on screen and in logcat (tag edge-lmk-bench), then writes the JSON report.
 */
class BenchmarkActivity : Activity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val text = TextView(this).apply { setPadding(24, 24, 24, 24); setTextIsSelectable(true) }
        setContentView(ScrollView(this).apply { addView(text) })
        val threads = intent.getStringExtra("threads")?.split(',')?.map { it.trim().toInt() } ?: listOf(1, 4)
        val repeats = intent.getIntExtra("repeats", 3)
        val only = intent.getStringExtra("model")
        fun log(line: String) {
            android.util.Log.i("edge-lmk-bench", line)
            runOnUiThread { text.append(line + "\n") }
        }
        Thread {
            try {
                BenchmarkRunner(this, ::log).run(threads, repeats = repeats, only = only)
                log("DONE")
            } catch (e: Exception) {
                log("FAILED: ${e::class.simpleName}: ${e.message}")
            }
        }.start()
    }
}
