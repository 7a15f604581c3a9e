// Drives headless Chromium through the browser half of an upload: a page on the web client's
// origin requests a presigned PUT from the API, sends the file with the returned headers, waits for
// the image to become available, and shows it in an <img> from a presigned view URL. It proves
// that the bucket's CORS rules and the URL signing work in a real browser.
//
// Input is one JSON object in the environment variable BROWSER_TEST_INPUT:
//   playwrightCore  absolute path of the playwright-core package
//   chromium        Chromium executable
//   userDataDir     a fresh, empty profile directory
//   pageURL         the page to open, on an origin the API and the bucket allow
//   apiBase         the API root, ending in /api
//   token           a provider's bearer token
//   fileName        the name to upload under
//   fileType        its content type
//   fileBase64      the file's bytes
// The script prints one JSON line with the outcome and exits 0, or prints the error and exits 1.
'use strict';

const input = JSON.parse(process.env.BROWSER_TEST_INPUT || '{}');
const { chromium } = require(input.playwrightCore);

const flags = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// runInPage executes in the browser, on the page's origin.
async function runInPage(args) {
  const bytes = Uint8Array.from(atob(args.fileBase64), (c) => c.charCodeAt(0));
  const auth = { Authorization: 'Bearer ' + args.token };

  const upload = await fetch(args.apiBase + '/files/upload', {
    method: 'POST',
    headers: { ...auth, 'Content-Type': 'application/json' },
    body: JSON.stringify({ fileName: args.fileName, fileType: args.fileType, tags: [] }),
  });
  if (upload.status !== 200) {
    return { step: 'upload', status: upload.status, body: await upload.text() };
  }
  const { uploadUrl, uploadHeaders } = await upload.json();

  const put = await fetch(uploadUrl, {
    method: 'PUT',
    headers: uploadHeaders,
    body: new Blob([bytes], { type: args.fileType }),
  });
  if (put.status !== 200) {
    return { step: 'put', status: put.status, body: await put.text() };
  }

  // The image becomes available when the ObjectCreated event has been handled; until then the
  // view route returns 409. At most 300 tries, 100 ms apart.
  const viewPath = args.apiBase + '/files/view/' + encodeURIComponent(args.fileName);
  let viewUrl = '';
  let lastStatus = 0;
  for (let i = 0; i < 300 && !viewUrl; i++) {
    const view = await fetch(viewPath, { headers: auth });
    lastStatus = view.status;
    if (view.status === 200) {
      viewUrl = (await view.json()).viewUrl;
    } else {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  if (!viewUrl) {
    return { step: 'view', status: lastStatus };
  }

  const img = document.createElement('img');
  const loaded = new Promise((resolve) => {
    img.onload = () => resolve(true);
    img.onerror = () => resolve(false);
  });
  img.src = viewUrl;
  document.body.appendChild(img);
  const ok = await loaded;
  return { step: 'done', putStatus: put.status, imageLoaded: ok,
    naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight };
}

async function main() {
  const context = await chromium.launchPersistentContext(input.userDataDir, {
    executablePath: input.chromium,
    headless: true,
    args: flags,
  });
  try {
    const page = await context.newPage();
    const response = await page.goto(input.pageURL);
    if (!response || response.status() !== 200) {
      throw new Error('page did not load: status ' + (response && response.status()));
    }
    const result = await page.evaluate(runInPage, input);
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    await context.close();
  }
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + '\n');
  process.exit(1);
});
