// One XHTML page of a book, as laid out by the engine → what a reader would notice (JSON).
// Evaluated by tests/test_readers.py in Chromium (Playwright) and WebKitGTK (WebDriver):
// plain ES2017, no modules, returns a promise of a plain object.
async function readerChecks(opts) {
  opts = opts || {};
  const view = document.documentElement.clientWidth;
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "");

  if (document.fonts) await document.fonts.ready;
  const images = Array.from(document.images);
  await Promise.all(images.map((img) => (img.decode ? img.decode().catch(() => null) : null)));

  // 1. horizontal overflow: the page scrolls sideways, or an element reaches past the viewport
  const overflow = [];
  if (document.documentElement.scrollWidth > view + 1) {
    overflow.push(`page scrollWidth ${document.documentElement.scrollWidth} > ${view}`);
  }
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.right > view + 1 || r.left < -1) {
      overflow.push(`${describe(el)} spans ${Math.round(r.left)}..${Math.round(r.right)} of ${view}`);
    } else if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1) {
      overflow.push(`${describe(el)} holds ${el.scrollWidth} px of content in ${el.clientWidth}`);
    }
  }

  // 2. every image decoded
  const undecoded = images.filter((img) => !(img.complete && img.naturalWidth > 0))
    .map((img) => img.getAttribute("src"));

  // 3. Latin words spread by justification: a word is wider justified than set ragged
  const spread = [];
  if (opts.latin !== false) {
    const words = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const block = node.parentElement.closest("p, li, td, th, figcaption, blockquote, h1, h2, h3, h4, h5, h6");
      if (!block || getComputedStyle(block).textAlign !== "justify") continue;
      const re = /[A-Za-z][A-Za-z0-9'’.-]{2,}/g;
      let m;
      while ((m = re.exec(node.data)) !== null) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        if (range.getClientRects().length !== 1) continue;   // broken across lines: not comparable
        words.push({ block, range, word: m[0], width: range.getBoundingClientRect().width });
      }
    }
    const blocks = new Set(words.map((w) => w.block));
    blocks.forEach((b) => { b.dataset.ieAlign = b.style.textAlign; b.style.textAlign = "left"; });
    for (const w of words) {
      const ragged = w.range.getBoundingClientRect().width;
      if (w.width > ragged + 0.5) spread.push(`${w.word}: ${ragged.toFixed(1)} → ${w.width.toFixed(1)} px`);
    }
    blocks.forEach((b) => { b.style.textAlign = b.dataset.ieAlign; delete b.dataset.ieAlign; });
  }

  // 4. legibility: text colour against the background it sits on (WCAG contrast ratio)
  const rgba = (s) => { const m = s.match(/[\d.]+/g) || [0, 0, 0, 0]; return m.map(Number).concat([1]).slice(0, 4); };
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const backgroundOf = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0.5) return c;
    }
    return [255, 255, 255, 1];   // the canvas
  };
  const illegible = [];
  let textElements = 0;
  for (const el of document.body.querySelectorAll("*")) {
    const own = Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.data.trim());
    if (!own) continue;
    textElements++;
    const fg = rgba(getComputedStyle(el).color), bg = backgroundOf(el);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    if (ratio < 4.5) illegible.push(`${describe(el)}: ${ratio.toFixed(2)}:1`);
  }

  return {
    width: view,
    scrollHeight: document.documentElement.scrollHeight,
    overflow, undecoded, images: images.length, spread, illegible, textElements,
    fontsLoaded: document.fonts ? Array.from(document.fonts).filter((f) => f.status === "loaded").length : -1,
    fontsFailed: document.fonts ? Array.from(document.fonts).filter((f) => f.status === "error")
      .map((f) => f.family) : [],
  };
}
