import Foundation
import OrchestratorCore
import Testing

/// The README documents what the code does: every exit code and every config field.
@Suite struct ReadmeTests {
    let readme = (try? String(contentsOfFile: repositoryRoot + "/README.md", encoding: .utf8)) ?? ""

    @Test func exitCodeTableMatchesTheCode() {
        #expect(!readme.isEmpty, "README.md not found at \(repositoryRoot)")
        for code in OrchestratorExitCode.allCases {
            #expect(
                readme.contains("| \(code.rawValue) | \(code.meaning) |"),
                "README lacks the row for exit code \(code.rawValue)")
        }
    }

    @Test func everyConfigFieldIsDocumented() {
        func keys(_ fields: [ConfigField], prefix: String) -> [String] {
            fields.flatMap { field -> [String] in
                let key = prefix + field.key
                if case .object(let nested) = field.type { return keys(nested, prefix: key + ".") }
                return [key]
            }
        }
        for key in keys(ConfigSpec.fields, prefix: "") {
            #expect(readme.contains("`\(key)`"), "README's config reference lacks `\(key)`")
        }
    }
}
