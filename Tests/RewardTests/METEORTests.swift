import Foundation
import Testing
@testable import Rewards
import Tokenizers

struct METEORFixture: Decodable {
    struct Case: Decodable { let hypothesis: String; let references: [String]; let wordpunct: Double; let whitespace: Double; let tokens: [String] }
    let cases: [Case]
    let synonyms: [SynonymEntry]
    struct SynonymEntry: Decodable {
        let word: String, names: [String]
        init(from decoder: Decoder) throws {
            var c = try decoder.unkeyedContainer()
            word = try c.decode(String.self)
            names = try c.decode([String].self)
        }
    }
    static let shared: Result<METEORFixture, Error> = Result {
        guard let url = Bundle.module.url(forResource: "Fixtures/meteor", withExtension: "json") else {
            throw RewardError("missing fixture meteor.json: run Scripts/fixtures/make meteor")
        }
        return try JSONDecoder().decode(METEORFixture.self, from: Data(contentsOf: url))
    }
}

enum SharedWordNet {
    static let wordNet: Result<WordNet, Error> = Result { try WordNet() }
}

@Suite("METEOR against nltk (WordNet 3.0)")
struct METEORTests {
    @Test func wordpunctTokensMatchNLTK() throws {
        for c in try METEORFixture.shared.get().cases {
            #expect(meteorTokenize(c.hypothesis).map(CodePointString.init) == c.tokens.map(CodePointString.init), "\(c.hypothesis.prefix(40))")
        }
    }

    @Test func synonymSetsMatchNLTK() throws {
        let wordNet = try SharedWordNet.wordNet.get()
        for entry in try METEORFixture.shared.get().synonyms {
            #expect(wordNet.synonyms(entry.word) == Set(entry.names.map(CodePointString.init)), "\(entry.word)")
        }
    }

    @Test func scoresMatchNLTK() throws {
        let meteor = METEOR(wordNet: try SharedWordNet.wordNet.get())
        let fixture = try METEORFixture.shared.get()
        var worst = 0.0
        for (i, c) in fixture.cases.enumerated() {
            for (tokenization, expected) in [(METEORTokenization.wordpunct, c.wordpunct), (.whitespace, c.whitespace)] {
                let got = meteor.score(hypothesis: meteorTokenize(c.hypothesis, tokenization),
                                       references: c.references.map { meteorTokenize($0, tokenization) })
                worst = max(worst, abs(got - expected))
                #expect(abs(got - expected) < 1e-9, "case \(i) \(tokenization): \(got) vs nltk \(expected)")
            }
        }
        // metrics.md §6: pair 1 wordpunct 0.74543, whitespace 0.70145; pair 2 wordpunct 0.90671, whitespace 0.625
        #expect(abs(fixture.cases[0].wordpunct - 0.74543) < 1e-5 && abs(fixture.cases[1].whitespace - 0.625) < 1e-5)
    }
}
