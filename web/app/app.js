// Placeholder module: the web client replaces it (web/app is embedded in the binary).
