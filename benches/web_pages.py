"""Test pages for benches/web_bench.py whose main text is known because the bench put it
there: real text in page templates with realistic boilerplate, and pages with the hard
cases. Every template varies its markup (class names, with or without `<article>`), and
the boilerplate is real text too (teasers and comments are sentences of other articles).

- "news-en": BBC News articles (`sluice datasets fetch bbc-news`) in a news-site template:
  top navigation, login, cookie banner, breadcrumb, byline, share widget, related stories,
  comments, newsletter box, footer.
- "portal-zh": Chinese fortunes (`fortunes-zh`, Debian's fortune-zh) joined into articles in
  a Chinese portal template (导航, 登录, 热门文章, 评论, 版权所有).
- "hard": Python standard-library source files (`python-stdlib`) as `<pre>` code between
  paragraphs, a data table, MathML with a TeX annotation, and a Tang poem with `<br>` lines.

Each page is (name, html, truth text, code blocks that must come out verbatim).
"""
import gzip, html, json, os, random, re

CACHE = os.path.expanduser(os.environ.get("SLUICE_CACHE", "~/.cache/sluice"))


def corpus(name):
    path = os.path.join(CACHE, "corpora", name, "docs.jsonl.gz")
    if not os.path.exists(path):
        raise SystemExit(f"{path}: run `sluice datasets fetch {name}` first")
    return [json.loads(l) for l in gzip.open(path, "rt", encoding="utf-8")]


def esc(t):
    return html.escape(t, quote=False)


NAVS = [("nav", "site-nav"), ("div", "menu topbar"), ("ul", "navigation")]


def news_en(n, rng):
    docs = [d for d in corpus("bbc-news") if len(d["text"]) > 1500]
    rng.shuffle(docs)
    out = []
    for i, d in enumerate(docs[:n]):
        title, *paras = [p.strip() for p in d["text"].split("\n\n") if p.strip()]
        others = docs[(i + 1) % len(docs):][:8]
        teaser = lambda o: o["text"].split("\n\n")[0]
        sentence = lambda o: re.split(r"(?<=[.!?]) ", o["text"].split("\n\n")[2] if o["text"].count("\n\n") > 2 else o["text"])[0]
        tag, cls = NAVS[i % 3]
        nav = "".join(f'<li><a href="/{w.lower()}">{w}</a></li>' for w in ["Home", "UK", "World", "Business", "Politics", "Tech", "Science", "Health", "Sport"])
        nav = f'<{tag} class="{cls}"><ul>{nav}</ul></{tag}>' if tag != "ul" else f'<ul class="{cls}">{nav}</ul>'
        body = "".join(f"<p>{esc(p)}</p>\n" for p in paras)
        article = (f'<h1>{esc(title)}</h1>\n<p class="byline">By Staff Reporter, 12 March 2005</p>\n{body}'
                   f'<div class="share-tools"><a href="https://twitter.com/share">Share on Twitter</a> '
                   f'<a href="https://facebook.com/share">Share on Facebook</a> <a href="mailto:">Email this story</a></div>')
        wrap = f"<article>{article}</article>" if i % 2 == 0 else f'<div id="story-body" class="content">{article}</div>'
        related = "".join(f'<li><a href="/news/{k}">{esc(teaser(o))}</a></li>' for k, o in enumerate(others[:5]))
        comments = "".join(f'<div class="comment"><b>reader{k}</b><p>{esc(sentence(o))}</p></div>' for k, o in enumerate(others[5:8]))
        page = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)} - News</title>
<script>window.analytics = {{"id": 42}};</script><style>.nav{{display:flex}}</style></head><body>
<div id="cookie-consent">We use cookies to give you the best experience. <a href="/cookies">Find out more</a> <button>Accept</button></div>
<header class="masthead"><a href="/" class="logo">News</a> <a href="/signin">Sign in</a></header>
{nav}
<div class="breadcrumb"><a href="/">Home</a> &gt; <a href="/{d['domain']}">{d['domain'].title()}</a></div>
<main>{wrap}
<section class="related"><h2>Related stories</h2><ul>{related}</ul></section>
<section id="comments"><h2>Comments</h2>{comments}</section></main>
<aside class="sidebar"><h3>Most read</h3><ol>{related}</ol></aside>
<div class="newsletter"><h3>Get the news by email</h3><p>Sign up for our daily briefing and never miss a story.</p><form><input type="email"><button>Subscribe</button></form></div>
<footer><p>Copyright &copy; 2005 News Ltd. All rights reserved.</p><a href="/terms">Terms</a> <a href="/privacy">Privacy</a></footer>
</body></html>"""
        out.append((f"news-en/{i}", page, title + "\n" + "\n".join(paras), []))
    return out


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def portal_zh(n, rng):
    docs = [ANSI.sub("", d["text"]).strip() for d in corpus("fortunes-zh")]
    docs = [d for d in docs if len(d) > 40]
    rng.shuffle(docs)
    out = []
    for i in range(n):
        parts = docs[i * 6:(i + 1) * 6]
        title = parts[0].split("\n")[0][:20]
        paras = [p.replace("\n", "") for d in parts for p in d.split("\n\n") if p.strip()]
        hot = docs[(i * 6 + 600) % len(docs):][:5]
        nav = "".join(f'<a href="/c{k}">{w}</a> ' for k, w in enumerate(["首页", "新闻", "科技", "财经", "体育", "娱乐", "教育", "健康"]))
        body = "".join(f"<p>{esc(p)}</p>\n" for p in paras)
        hot_list = "".join(f'<li><a href="/a/{k}">{esc(h.splitlines()[0][:30])}</a></li>' for k, h in enumerate(hot))
        wrap = (f'<div class="article-content"><h1>{esc(title)}</h1><div class="info">来源：本站 2026-12-01 阅读：1024</div>{body}</div>'
                if i % 2 else f'<article><h1>{esc(title)}</h1>{body}</article>')
        page = f"""<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{esc(title)}_门户网站</title></head><body>
<div class="top-bar"><a href="/login">登录</a> | <a href="/register">注册</a> | <a href="/app">手机版</a></div>
<div class="nav">{nav}</div>
<div class="main">{wrap}
<div class="share">分享到：<a href="#">微博</a> <a href="#">微信</a> <a href="#">QQ空间</a></div>
<div class="comments"><h3>网友评论</h3><div class="comment-item"><p>{esc(hot[0].replace(chr(10), ''))}</p></div></div></div>
<div class="sidebar"><h3>热门文章</h3><ul>{hot_list}</ul></div>
<div class="footer">版权所有 &copy; 2026 门户网站 京ICP备12345678号 <a href="/about">关于我们</a> <a href="/contact">联系我们</a></div>
</body></html>"""
        out.append((f"portal-zh/{i}", page, title + "\n" + "\n".join(paras), []))
    return out


def hard(n, rng):
    code = [d["text"] for d in corpus("python-stdlib") if 400 < len(d["text"]) < 6000]
    poems = [d["text"] for d in corpus("chinese-poetry") if d.get("domain") == "poetry-tang" and 40 < len(d["text"]) < 200]
    rng.shuffle(code)
    rng.shuffle(poems)
    out = []
    for i in range(n):
        src = code[i % len(code)]
        lines = poems[i % len(poems)].split("\n")
        title, author, verse = lines[0], lines[1] if len(lines) > 1 else "", lines[2:]
        intro = ("The module below is part of the Python standard library. Read it from top to bottom: "
                 "the helper functions come first and the classes that use them follow.")
        table = [("name", "kind", "lines"), ("first", "function", "12"), ("second", "class", "48")]
        rows = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in table)
        page = f"""<html><head><title>Hard cases {i}</title></head><body>
<nav><a href="/">Docs</a> <a href="/api">API</a></nav>
<main><h1>Reading a module</h1><p>{intro}</p>
<pre><code>{esc(src)}</code></pre>
<p>The cost is <math><semantics><mrow><mi>O</mi><mo>(</mo><mi>n</mi><mo>)</mo></mrow><annotation encoding="application/x-tex">O(n)</annotation></semantics></math> in the length of the input, as the table shows.</p>
<table>{rows}</table>
<h2>{esc(title)}</h2><p>{esc(author)}</p><p>{"<br>".join(esc(l) for l in verse)}</p></main>
<footer>Generated documentation. <a href="/license">License</a></footer></body></html>"""
        truth = "\n".join(["Reading a module", intro, src, "The cost is O(n) in the length of the input, as the table shows.",
                           *[" ".join(r) for r in table], title, author, *verse])
        out.append((f"hard/{i}", page, truth, [src.strip("\n").rstrip()]))
    return out


def template_pages(n, seed=7):
    rng = random.Random(seed)
    return news_en(n, rng) + portal_zh(n, rng) + hard(max(1, n // 4), rng)
