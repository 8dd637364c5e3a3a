// The engine is built in a later issue (see DESIGN.md); this package exists so the workspace layout is fixed from the start.
export {};
