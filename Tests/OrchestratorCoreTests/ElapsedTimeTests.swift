import OrchestratorCore
import Testing

/// The one duration format of the CLI and the dashboard.
@Suite struct ElapsedTimeTests {
    static let cases: [(Double, String)] = [
        (0, "0s"), (0.9, "0s"), (42.7, "42s"), (59.999, "59s"), (60, "1m00s"), (192, "3m12s"), (3599, "59m59s"),
        (3600, "1h00m"), (18_180, "5h03m"), (86_399, "23h59m"), (86_400, "1d00h"), (187_200, "2d04h"),
        (100 * 86_400 + 3600, "100d01h"),
    ]

    @Test(arguments: cases)
    func twoLargestUnits(seconds: Double, text: String) {
        #expect(ElapsedTime.text(seconds) == text)
    }

    @Test func negativeAndNonFiniteReadAsZero() {
        #expect(ElapsedTime.text(-5) == "0s")
        #expect(ElapsedTime.text(.nan) == "0s")
        #expect(ElapsedTime.text(-.infinity) == "0s")
        #expect(ElapsedTime.text(.infinity) == "0s")
        #expect(ElapsedTime.text(1e300).hasSuffix("h"), "a huge finite value is clamped, not a trap")
    }
}
