import XCTest
@testable import Jinja

/// The default model's chat template, end to end, as the API layer calls it.
final class SmolLM2TemplateTests: XCTestCase {
    static let source = """
    {% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system
    You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
    ' }}{% endif %}{{'<|im_start|>' + message['role'] + '
    ' + message['content'] + '<|im_end|>' + '
    '}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant
    ' }}{% endif %}
    """

    func testUserOnlyWithGenerationPrompt() throws {
        let t = try Template(Self.source)
        let out = try t.render([
            "messages": [["role": "user", "content": "hi"]],
            "add_generation_prompt": true,
            "bos_token": "<|im_start|>",
            "eos_token": "<|im_end|>",
        ])
        XCTAssertEqual(out, """
        <|im_start|>system
        You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
        <|im_start|>user
        hi<|im_end|>
        <|im_start|>assistant

        """)
    }

    func testSystemFirstNoGenerationPrompt() throws {
        let t = try Template(Self.source)
        let out = try t.render([
            "messages": [["role": "system", "content": "Be brief."], ["role": "user", "content": "2+2?"],
                         ["role": "assistant", "content": "4"]],
            "add_generation_prompt": false,
        ])
        XCTAssertEqual(out, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n")
    }
}
