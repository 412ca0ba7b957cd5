import { useCallback, useEffect, useRef, useState } from 'react';
import { Link, useParams, useSearch } from 'wouter';
import { EditorState, Compartment } from '@codemirror/state';
import { EditorView, keymap, lineNumbers, highlightActiveLine, drawSelection } from '@codemirror/view';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { bracketMatching, defaultHighlightStyle, indentOnInput, syntaxHighlighting } from '@codemirror/language';
import { searchKeymap, highlightSelectionMatches } from '@codemirror/search';
import { oneDark } from '@codemirror/theme-one-dark';
import { api, ApiError, authHeaders, describeError, qs } from '../api/client';
import { Dialog, PageHead } from '../components/ui';
import { WorkSessionPrompt } from '../components/work-session-prompt';
import { effectiveTheme } from '../theme';
import { bytes } from '../format';
import { languageOf, loadLanguage } from './languages';
import { parentPath } from '../paths';

interface TextFile {
  path: string;
  content: string;
  etag: string;
  size: number;
}

declare global {
  interface Window {
    /** Test hook: the code editor's view. */
    __corralEditor?: EditorView;
  }
}

const themeFor = () => (effectiveTheme() === 'dark' ? oneDark : syntaxHighlighting(defaultHighlightStyle));

/**
 * The code editor: CodeMirror 6 with highlighting by file type. Saves with `If-Match: "<etag>"`; a 412
 * FILE_CHANGED (someone changed the file since it was read) asks what to do instead of overwriting.
 */
export default function EditorPage() {
  const { server = '' } = useParams<{ server: string }>();
  const params = new URLSearchParams(useSearch());
  const path = params.get('path') ?? '';
  const osUser = params.get('osUser') ?? '';
  const enc = encodeURIComponent(server);
  const url = `/api/v1/servers/${enc}/files/text${qs({ path, osUser })}`;
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const etag = useRef<string>('');
  const theme = useRef(new Compartment());
  const lang = useRef(new Compartment());
  const [file, setFile] = useState<TextFile | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [needWs, setNeedWs] = useState<string | null>(null);
  const [dirty, setDirty] = useState(false);
  const [status, setStatus] = useState<string>('');
  const [conflict, setConflict] = useState(false);
  const [tick, setTick] = useState(0);
  const saveRef = useRef<() => void>(() => {});

  useEffect(() => {
    const ac = new AbortController();
    setError(null);
    api
      .get<TextFile>(url, { signal: ac.signal })
      .then((f) => {
        etag.current = f.etag;
        setFile(f);
        setNeedWs(null);
        setDirty(false);
        setStatus(`Opened ${bytes(f.size)}`);
      })
      .catch((e: unknown) => {
        if ((e as Error).name === 'AbortError') return;
        if (e instanceof ApiError && e.code === 'WORK_SESSION_REQUIRED') setNeedWs(e.message);
        else setError(e);
      });
    return () => ac.abort();
  }, [url, tick]);

  // One EditorView per opened file content.
  useEffect(() => {
    if (!file || !host.current) return;
    const v = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: file.content,
        extensions: [
          lineNumbers(),
          history(),
          drawSelection(),
          indentOnInput(),
          bracketMatching(),
          highlightActiveLine(),
          highlightSelectionMatches(),
          keymap.of([
            { key: 'Mod-s', preventDefault: true, run: () => (saveRef.current(), true) },
            indentWithTab,
            ...defaultKeymap,
            ...historyKeymap,
            ...searchKeymap,
          ]),
          theme.current.of(themeFor()),
          lang.current.of([]),
          EditorView.contentAttributes.of({ 'aria-label': `Contents of ${file.path}` }),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) setDirty(true);
          }),
        ],
      }),
    });
    view.current = v;
    window.__corralEditor = v;
    let live = true;
    void loadLanguage(file.path).then((ext) => {
      if (live && ext) v.dispatch({ effects: lang.current.reconfigure(ext) });
    });
    const onTheme = () => v.dispatch({ effects: theme.current.reconfigure(themeFor()) });
    window.addEventListener('corral-theme', onTheme);
    return () => {
      live = false;
      window.removeEventListener('corral-theme', onTheme);
      v.destroy();
      view.current = null;
      if (window.__corralEditor === v) window.__corralEditor = undefined;
    };
  }, [file]);

  const save = useCallback(
    async (force = false) => {
      const v = view.current;
      if (!v) return;
      setStatus('Saving…');
      try {
        // fetch directly: the ETag goes in If-Match, and 412 is an answer to handle, not a failure.
        const res = await fetch(url, {
          method: 'PUT',
          credentials: 'same-origin',
          headers: {
            'content-type': 'application/json',
            'if-match': `"${etag.current}"`,
            ...authHeaders('PUT'),
          },
          body: JSON.stringify({ content: v.state.doc.toString() }),
        });
        const body = (await res.json().catch(() => null)) as {
          etag?: string;
          size?: number;
          error?: { code: string; message: string };
        } | null;
        if (res.status === 412 && !force) {
          setConflict(true);
          setStatus('Not saved: the file changed on the server.');
          return;
        }
        if (!res.ok)
          throw new ApiError(
            res.status,
            body?.error?.code ?? `HTTP_${res.status}`,
            body?.error?.message ?? res.statusText,
          );
        etag.current = body?.etag ?? etag.current;
        setDirty(false);
        setStatus(`Saved ${bytes(body?.size ?? 0)} at ${new Date().toLocaleTimeString()}`);
      } catch (e) {
        setStatus(`Not saved: ${describeError(e)}`);
      }
    },
    [url],
  );
  saveRef.current = () => void save();

  /** Keep my version: take the server's current ETag, then save over it. */
  const overwrite = async () => {
    setConflict(false);
    try {
      const cur = await api.get<TextFile>(url);
      etag.current = cur.etag;
      await save(true);
    } catch (e) {
      setStatus(`Not saved: ${describeError(e)}`);
    }
  };

  return (
    <section className="editor-page">
      <PageHead
        title={
          <>
            <Link href={`/files/${enc}${qs({ path: parentPath(path), osUser })}`}>{server}</Link> / <code>{path}</code>
          </>
        }
      >
        <span className="muted small" role="status" data-testid="editor-status">
          {dirty ? '● unsaved · ' : ''}
          {status}
        </span>
        <span className="chip">{languageOf(path) ?? 'plain text'}</span>
        <button type="button" className="primary" onClick={() => void save()} disabled={!file}>
          Save <kbd>Ctrl+S</kbd>
        </button>
      </PageHead>
      {needWs && (
        <WorkSessionPrompt
          server={server}
          features={['code_editor']}
          message={needWs}
          onReady={() => setTick((t) => t + 1)}
        />
      )}
      {error ? (
        <p className="error-box" role="alert">
          {describeError(error)}
        </p>
      ) : null}
      <div ref={host} className="cm-host" data-testid="editor" />
      <Dialog open={conflict} onClose={() => setConflict(false)} title="The file changed on the server">
        <p>
          Someone changed <code>{path}</code> since you opened it. Your changes are still here, not saved.
        </p>
        <div className="row">
          <button type="button" className="danger" onClick={() => void overwrite()}>
            Overwrite with my version
          </button>
          <button
            type="button"
            onClick={() => {
              setConflict(false);
              setTick((t) => t + 1);
            }}
          >
            Discard mine and load theirs
          </button>
          <button type="button" onClick={() => setConflict(false)}>
            Keep editing
          </button>
        </div>
      </Dialog>
    </section>
  );
}
