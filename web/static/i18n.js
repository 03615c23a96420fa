// The panel's texts in the reader's language. The controller chooses the language (the
// language menu's cookie, else the browser's Accept-Language) and names it in <html lang>;
// its catalog, with English under any key it lacks, is a module beside this one. Texts are
// looked up by key: t('clients.add'), t('clients.selected', { n: 3 }). A text about a count
// has one form per plural category of the language; `n` picks it.
export const LANG = document.documentElement.lang || 'en';
const catalog = (await import(`./lang-${LANG}.js`)).default;

// Dates and numbers follow the language: Persian digits in Persian, and so on. English
// keeps the browser's own English variant (en-GB dates for a British reader).
const LOCALES = { fa: 'fa-IR', ru: 'ru-RU', zh: 'zh-CN', vi: 'vi-VN' };
export const LOCALE = LOCALES[LANG] || (navigator.languages || []).find((l) => /^en(-|$)/i.test(l)) || 'en';
const plural = new Intl.PluralRules(LOCALE);
const numbers = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 2 });

// A number in the reader's digits and grouping. Not for ports, ids or versions: pass those
// to texts as strings.
export function num(n, options) {
  return options ? new Intl.NumberFormat(LOCALE, options).format(n) : numbers.format(n);
}

export function has(key) { return key in catalog; }

export function t(key, vars = {}) {
  let text = catalog[key];
  if (text === undefined) {
    console.warn(`no text for ${key}`);
    return key;
  }
  if (typeof text === 'object') text = text[plural.select(Number(vars.n) || 0)] ?? text.other;
  return text.replace(/\{(\w+)\}/g, (whole, name) => {
    if (!(name in vars)) return whole;
    const value = vars[name];
    return typeof value === 'number' ? num(value) : String(value);
  });
}
