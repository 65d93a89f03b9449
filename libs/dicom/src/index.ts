// @casam/dicom: hospital imaging in and out — DICOM series to 8-bit slices and masks (DICOM-SEG, RTSTRUCT),
// results to DICOM-SEG. Knows nothing of CA-SAM; the site agent is its only user. Patient and study identity
// stays in what this library returns to the agent; nothing here talks to the network.
export {};
