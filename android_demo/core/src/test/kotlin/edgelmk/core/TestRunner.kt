package edgelmk.core

import java.io.File
import kotlin.system.exitProcess

/**
 * A dependency-free test runner: JUnit is not available where these tests must run (only the
 * Kotlin compiler and kotlin-test's assertions are), so each test file registers named
 * cases on a [Suite] and main() runs them all.
 *
 * Usage: TestRunnerKt <golden dir> [<sample bench report out>]
 * Prints one line per case, the largest golden deviations, and finally "N passed, M failed";
 * exits non-zero when anything failed.
 */
class Suite(val golden: File, val reportOut: File?) {
    val cases = ArrayList<Pair<String, () -> Unit>>()
    val measurements = ArrayList<String>()

    fun test(name: String, body: () -> Unit) { cases.add(name to body) }

    /** Record a measured deviation so the run prints what "matches Python" means in numbers. */
    fun measure(what: String, value: Double, tolerance: Double) {
        measurements.add(String.format("%-58s max |diff| = %.3g (tolerance %.0e)", what, value, tolerance))
    }
}

fun main(args: Array<String>) {
    val golden = File(args.getOrElse(0) { "src/test/resources/golden" })
    val suite = Suite(golden, args.getOrNull(1)?.let { File(it) })
    jsonTests(suite)
    contractTests(suite)
    cropGoldenTests(suite)
    shrinkTests(suite)
    decodeGoldenTests(suite)
    calibrationGoldenTests(suite)
    trackingTests(suite)
    oneEuroTests(suite)
    benchReportTests(suite)
    blazeFaceTests(suite)
    frameTests(suite)
    modelCatalogTests(suite)
    pipelineTests(suite)

    var passed = 0
    var failed = 0
    for ((name, body) in suite.cases) {
        try {
            body()
            passed++
            println("PASS $name")
        } catch (t: Throwable) {
            failed++
            println("FAIL $name: ${t::class.simpleName}: ${t.message}")
        }
    }
    if (suite.measurements.isNotEmpty()) {
        println("-- golden agreement with Python --")
        suite.measurements.forEach { println(it) }
    }
    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0 && passed > 0) 0 else 1)
}
