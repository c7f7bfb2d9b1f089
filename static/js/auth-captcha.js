// "Je ne suis pas un robot": loads the self-hosted ALTCHA widget and its proof-of-work worker.
// A module file, so the page needs no inline script; every file comes from our own static folder.
import "../vendor/altcha/i18n/fr-fr.js";
import "../vendor/altcha/i18n/en.js";
import "../vendor/altcha/altcha.min.js";

const pbkdf2Worker = new URL("../vendor/altcha/workers/pbkdf2.js", import.meta.url);
globalThis.$altcha.algorithms.set("PBKDF2/SHA-256", () => new Worker(pbkdf2Worker));
