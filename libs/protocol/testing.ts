// `@casam/protocol/testing`: the HTTP fuzzing kit shared by the apps' fuzz suites, kept out of the wire API.
export * from './src/testing/http-fuzz';
