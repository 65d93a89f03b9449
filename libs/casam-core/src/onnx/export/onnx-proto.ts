/**
 * The ONNX protobuf messages the exporter writes (and the specs read back), declared for protobufjs's
 * reflection API. Only the fields of `onnx/onnx.proto` (IR version 8+) that a model made of tensors needs are
 * declared; the field numbers are those of the ONNX spec, which is what makes the bytes an ONNX file. Unknown
 * fields in a file that is read back (e.g. a PyTorch export) are skipped by protobufjs, as protobuf requires.
 *
 * Why a declared subset rather than a generated package: `onnx-proto` (the npm package) bundles protobufjs 6
 * and an ONNX 1.10 schema and is not maintained; protobufjs 8 is, and a subset declared here in ~100 lines has
 * no code generation step and no second copy of protobufjs.
 */
import { Root, Type } from 'protobufjs/light';

/** TensorProto.DataType values used here. */
export const OnnxDataType = {
  FLOAT: 1,
  UINT8: 2,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  DOUBLE: 11,
} as const;

/** AttributeProto.AttributeType values used here. */
export const OnnxAttributeType = {
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
} as const;

/** TensorProto.DataLocation. */
export const OnnxDataLocation = { DEFAULT: 0, EXTERNAL: 1 } as const;

const schema = {
  nested: {
    onnx: {
      nested: {
        StringStringEntryProto: {
          fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } },
        },
        OperatorSetIdProto: {
          fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } },
        },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1 },
            dataType: { type: 'int32', id: 2 },
            floatData: { rule: 'repeated', type: 'float', id: 4, options: { packed: true } },
            int32Data: { rule: 'repeated', type: 'int32', id: 5, options: { packed: true } },
            int64Data: { rule: 'repeated', type: 'int64', id: 7, options: { packed: true } },
            name: { type: 'string', id: 8 },
            rawData: { type: 'bytes', id: 9 },
            doubleData: { rule: 'repeated', type: 'double', id: 10, options: { packed: true } },
            docString: { type: 'string', id: 12 },
            externalData: { rule: 'repeated', type: 'StringStringEntryProto', id: 13 },
            dataLocation: { type: 'int32', id: 14 },
          },
        },
        TensorShapeProto: {
          fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } },
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ['dimValue', 'dimParam'] } },
              fields: {
                dimValue: { type: 'int64', id: 1 },
                dimParam: { type: 'string', id: 2 },
                denotation: { type: 'string', id: 3 },
              },
            },
          },
        },
        TypeProto: {
          oneofs: { value: { oneof: ['tensorType'] } },
          fields: { tensorType: { type: 'Tensor', id: 1 }, denotation: { type: 'string', id: 6 } },
          nested: {
            Tensor: {
              fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } },
            },
          },
        },
        ValueInfoProto: {
          fields: {
            name: { type: 'string', id: 1 },
            type: { type: 'TypeProto', id: 2 },
            docString: { type: 'string', id: 3 },
          },
        },
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            t: { type: 'TensorProto', id: 5 },
            floats: { rule: 'repeated', type: 'float', id: 7 },
            ints: { rule: 'repeated', type: 'int64', id: 8 },
            strings: { rule: 'repeated', type: 'bytes', id: 9 },
            docString: { type: 'string', id: 13 },
            type: { type: 'int32', id: 20 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
            docString: { type: 'string', id: 6 },
            domain: { type: 'string', id: 7 },
          },
        },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            docString: { type: 'string', id: 10 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
            valueInfo: { rule: 'repeated', type: 'ValueInfoProto', id: 13 },
          },
        },
        ModelProto: {
          fields: {
            irVersion: { type: 'int64', id: 1 },
            producerName: { type: 'string', id: 2 },
            producerVersion: { type: 'string', id: 3 },
            domain: { type: 'string', id: 4 },
            modelVersion: { type: 'int64', id: 5 },
            docString: { type: 'string', id: 6 },
            graph: { type: 'GraphProto', id: 7 },
            opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
            metadataProps: { rule: 'repeated', type: 'StringStringEntryProto', id: 14 },
          },
        },
      },
    },
  },
};

const root = Root.fromJSON(schema);
export const ModelProtoType: Type = root.lookupType('onnx.ModelProto');

/** Plain-object shapes of the messages (what protobufjs encodes from and decodes to with longs as numbers). */
export interface StringStringEntry {
  key: string;
  value: string;
}
export interface TensorMessage {
  name: string;
  dims: number[];
  dataType: number;
  rawData?: Uint8Array;
  floatData?: number[];
  int64Data?: number[];
  int32Data?: number[];
  externalData?: StringStringEntry[];
  dataLocation?: number;
}
export interface DimensionMessage {
  dimValue?: number;
  dimParam?: string;
}
export interface ValueInfoMessage {
  name: string;
  type?: { tensorType?: { elemType: number; shape?: { dim?: DimensionMessage[] } } };
}
export interface AttributeMessage {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorMessage;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
}
export interface NodeMessage {
  input: string[];
  output: string[];
  name?: string;
  opType: string;
  domain?: string;
  attribute?: AttributeMessage[];
}
export interface GraphMessage {
  name: string;
  node: NodeMessage[];
  initializer: TensorMessage[];
  input: ValueInfoMessage[];
  output: ValueInfoMessage[];
  docString?: string;
}
export interface ModelMessage {
  irVersion: number;
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  graph: GraphMessage;
  opsetImport: { domain: string; version: number }[];
  metadataProps?: StringStringEntry[];
}

/** Serialises a model. int64 fields are plain numbers (every value here is far below 2^53). */
export function encodeModelProto(model: ModelMessage): Uint8Array {
  return ModelProtoType.encode(model).finish();
}

/** Parses ONNX bytes into plain objects (int64 → number, bytes → Uint8Array), e.g. to inspect an export. */
export function decodeModelProto(bytes: Uint8Array): ModelMessage {
  const msg = ModelProtoType.decode(bytes);
  return ModelProtoType.toObject(msg, { longs: Number, arrays: true }) as ModelMessage;
}
