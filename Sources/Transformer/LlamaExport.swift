// A Llama's weights in the two layouts other tools load: GGUF (llama.cpp: GGUF names, Q/K rows permuted
// for adjacent-pair RoPE) and Hugging Face transformers (LlamaForCausalLM names, Q/K rows as trained
// with rotate-half RoPE). A model keeps Q/K in the layout of its RoPE convention (LlamaGGUF.swift keeps
// GGUF's), so each export permutes exactly when the model's layout differs from the target's.
//
// Per head of d rows, GGUF row 2j is HF row j and GGUF row 2j+1 is HF row j + d/2 (llama.cpp's
// convert_hf_to_gguf `permute`); `permuteRows` applies that map (toGGUF) or its inverse.
import Foundation
import ModelFiles
import Tensor

extension Llama {
    /// The weights as GGUF tensors, in storage order: `type` (F32 or Q8_0) for matrices, F32 for norms.
    public func ggufTensors(type: GGMLType, into writer: inout GGUFWriter) throws {
        for (entry, spec) in zip(parameters.entries, Self.parameterSpecs(config)) {
            let values = weights(entry, permutedTo: .adjacentPairs)
            try values.withUnsafeBufferPointer {
                try writer.addTensor(name: entry.name, shape: entry.shape, type: spec.isMatrix ? type : .f32, values: $0)
            }
        }
    }

    /// The llama.* metadata of this configuration, with the GGUF key types llama.cpp expects.
    public func ggufHyperParameters(into writer: inout GGUFWriter) {
        let c = config
        writer.set("general.architecture", .string("llama"))
        for (key, value) in [("context_length", c.contextLength), ("embedding_length", c.hiddenSize),
                             ("feed_forward_length", c.intermediateSize), ("block_count", c.layers),
                             ("attention.head_count", c.heads), ("attention.head_count_kv", c.kvHeads),
                             ("rope.dimension_count", c.headDim), ("vocab_size", c.vocabSize)] {
            writer.set("llama." + key, .u32(UInt32(value)))
        }
        writer.set("llama.rope.freq_base", .f32(c.ropeTheta))
        writer.set("llama.attention.layer_norm_rms_epsilon", .f32(c.rmsNormEps))
    }

    /// The weights under transformers' LlamaForCausalLM names, shapes [out, in], in storage order. The
    /// embedding is tied, so there is no `lm_head.weight` (transformers ties it on load).
    public func huggingFaceTensors() -> [(name: String, shape: [Int], values: [Float])] {
        parameters.entries.map { entry in (Self.huggingFaceName(entry.name), entry.shape, weights(entry, permutedTo: .rotateHalf)) }
    }

    /// transformers' name of a GGUF parameter name.
    static func huggingFaceName(_ name: String) -> String {
        switch name {
        case "token_embd.weight": return "model.embed_tokens.weight"
        case "output_norm.weight": return "model.norm.weight"
        default:
            let parts = name.split(separator: ".")  // blk.N.<tensor>.weight
            let renamed = ["attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
                           "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
                           "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"][String(parts[2])]!
            return "model.layers.\(parts[1]).\(renamed).weight"
        }
    }

    /// transformers' LlamaConfig of this model (config.json), tied embeddings as SmolLM2's. The RoPE base
    /// and dtype are written under both names: transformers ≥ 5 reads `rope_parameters` and `dtype`,
    /// 4.x reads `rope_theta` and `torch_dtype`.
    /// `tokenIDs` adds bos_token_id, eos_token_id, pad_token_id (those the tokenizer has).
    public func huggingFaceConfig(tokenIDs: [String: Int]) -> [String: Any] {
        let c = config
        var object: [String: Any] = [
            "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": c.vocabSize,
            "hidden_size": c.hiddenSize, "intermediate_size": c.intermediateSize, "num_hidden_layers": c.layers,
            "num_attention_heads": c.heads, "num_key_value_heads": c.kvHeads, "head_dim": c.headDim,
            "max_position_embeddings": c.contextLength, "rms_norm_eps": Double(c.rmsNormEps), "hidden_act": "silu",
            "rope_theta": Double(c.ropeTheta), "rope_parameters": ["rope_theta": Double(c.ropeTheta), "rope_type": "default"],
            "attention_bias": false, "attention_dropout": 0.0, "mlp_bias": false, "tie_word_embeddings": true,
            "initializer_range": 0.02, "pretraining_tp": 1, "use_cache": true, "torch_dtype": "float32", "dtype": "float32",
        ]
        object.merge(tokenIDs) { $1 }
        return object
    }

    /// One parameter's values with its Q/K rows in `layout`'s order (other parameters as stored).
    func weights(_ entry: ParameterStore.Entry, permutedTo layout: RoPEConvention) -> [Float] {
        let stored = Array(UnsafeBufferPointer(start: parameters.value(entry), count: entry.count))
        guard layout != config.ropeConvention, entry.name.hasSuffix(".attn_q.weight") || entry.name.hasSuffix(".attn_k.weight") else {
            return stored
        }
        return permuteRows(stored, columns: entry.shape[1], headDim: config.headDim, toGGUF: layout == .adjacentPairs)
    }
}

/// Reorders the rows of a [heads·headDim, columns] matrix between the HF and GGUF Q/K layouts.
func permuteRows(_ values: [Float], columns: Int, headDim: Int, toGGUF: Bool) -> [Float] {
    var out = values
    let half = headDim / 2
    for head in 0..<values.count / (columns * headDim) {
        for j in 0..<half {
            for (gguf, hf) in [(2 * j, j), (2 * j + 1, j + half)] {
                let (to, from) = toGGUF ? (gguf, hf) : (hf, gguf)
                let dst = (head * headDim + to) * columns, src = (head * headDim + from) * columns
                out.replaceSubrange(dst..<dst + columns, with: values[src..<src + columns])
            }
        }
    }
    return out
}
