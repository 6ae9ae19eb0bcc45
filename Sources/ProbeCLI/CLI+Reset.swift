import Foundation

extension CLI {
    struct ResetReport: Decodable {
        var seriesCleared: Int
    }

    /// `probectl reset`: what probed answered, in words.
    static func resetMessage(_ text: String) -> String {
        guard let r = try? JSONDecoder.snakeCase.decode(ResetReport.self, from: Data(text.utf8)) else { return "statistics cleared" }
        return "statistics cleared: \(r.seriesCleared) series; figures start again from now (warm-up included)"
    }
}
