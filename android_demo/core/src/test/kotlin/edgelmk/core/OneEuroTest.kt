package edgelmk.core

import kotlin.test.assertEquals

fun oneEuroTests(s: Suite) {
    val g = Golden(s.golden)
    s.test("one euro: the filtered trace equals the Python reference (uneven frame times)") {
        val cfg = g.index.obj("one_euro")
        val ch = cfg.int("channels")
        val t = g.doubles(cfg.str("timestamps"))
        val x = g.doubles(cfg.str("input"))
        val want = g.doubles(cfg.str("output"))
        val smoother = LandmarkSmoother(cfg.num("min_cutoff"), cfg.num("beta"), cfg.num("d_cutoff"))
        val got = DoubleArray(x.size)
        for (f in t.indices) smoother.smooth(x.copyOfRange(f * ch, (f + 1) * ch), t[f]).copyInto(got, f * ch)
        val d = maxAbsDiff(got, want)
        s.measure("One Euro trace, ${t.size} frames x $ch channels (px)", d, 1e-9)
        assertMaxDiff(d, 1e-9, "one euro")
        // and it did smooth: the output moves less frame to frame than the noisy input
        fun roughness(v: DoubleArray) = (ch until v.size).sumOf { Math.abs(v[it] - v[it - ch]) }
        assert(roughness(got) < 0.7 * roughness(x)) { "filter did not smooth" }
    }
    s.test("one euro: first sample passes through, constants stay put, repeated time is ignored") {
        val f = OneEuroFilter(1.0, 0.05, 1.0)
        assertEquals(5.0, f.filter(5.0, 0.0))
        assertEquals(5.0, f.filter(5.0, 0.033))
        assertEquals(5.0, f.filter(9.0, 0.033))  // dt = 0: keep the last estimate
        val a = OneEuroFilter.alpha(1.0, 1.0 / 30.0)
        assertClose(1.0 / (1.0 + (1.0 / (2 * Math.PI)) * 30.0), a, 1e-15, "alpha")
    }
    s.test("one euro: a larger beta lags less behind a fast ramp") {
        fun lag(beta: Double): Double {
            val f = OneEuroFilter(1.0, beta, 1.0)
            var y = 0.0
            for (i in 0..30) y = f.filter(i * 10.0, i / 30.0)  // 300 px/s
            return 300.0 - y
        }
        assert(lag(0.5) < lag(0.05) && lag(0.05) < lag(0.0)) { "lags ${lag(0.0)} ${lag(0.05)} ${lag(0.5)}" }
    }
}
