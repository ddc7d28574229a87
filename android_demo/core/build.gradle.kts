// Pure Kotlin/JVM: no Android APIs, so everything here is tested on any JDK
// (core/run_tests.sh does the same without Gradle, and the repo's pytest runs that).
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.kotlin.jvm)
}

// Java 17 bytecode, built with whatever JDK runs Gradle (no toolchain download needed)
java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}
kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_17) }
}

dependencies {
    testImplementation(libs.kotlin.test)
}

// The tests use a tiny main() runner (JUnit is not available where run_tests.sh runs), so
// `./gradlew :core:check` runs that runner against the committed golden vectors.
val coreTests by tasks.registering(JavaExec::class) {
    description = "Runs the core tests against the golden vectors written by python -m edge_lmk.golden"
    group = "verification"
    classpath = sourceSets["test"].runtimeClasspath
    mainClass.set("edgelmk.core.TestRunnerKt")
    args(layout.projectDirectory.dir("src/test/resources/golden").asFile.absolutePath)
}
tasks.named("check") { dependsOn(coreTests) }
