// `@casam/dicom/testing`: the test kit (DICOM test data made by the tests, a throwaway Orthanc), kept out of
// the library's API (src/index.ts).
export * from './src/testing';
