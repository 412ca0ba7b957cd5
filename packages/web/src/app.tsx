import { lazy, Suspense, type ComponentType } from 'react';
import { Redirect, Route, Switch, useLocation } from 'wouter';
import { SessionProvider, useSession } from './api/session';
import { Layout } from './components/layout';
import { LoginPage } from './pages/login';

// Every page but sign-in is its own chunk, loaded when first visited.
const page = (load: () => Promise<{ default: ComponentType }>) => lazy(load);
const ServersPage = page(() => import('./pages/servers'));
const ServerPage = page(() => import('./pages/server-detail'));
const TerminalPage = page(() => import('./terminal/terminal-page'));
const FilesPage = page(() => import('./pages/files'));
const EditorPage = page(() => import('./pages/editor'));
const WorkSessionsPage = page(() => import('./pages/work-sessions'));
const RecordingsPage = page(() => import('./pages/recordings'));
const RecordingPage = page(() => import('./pages/recording-player'));
const AuditPage = page(() => import('./pages/audit'));
const AdminPage = page(() => import('./admin/admin-page'));
const TokensPage = page(() => import('./pages/tokens'));
const SecurityPage = page(() => import('./pages/security'));

function Loading() {
  return (
    <p className="muted" role="status">
      Loading…
    </p>
  );
}

function SignedIn() {
  const { session } = useSession();
  const [location] = useLocation();
  if (session === undefined) return <Loading />;
  if (session === null) {
    const next = location + window.location.search;
    return <Redirect to={`/login?next=${encodeURIComponent(next)}`} replace />;
  }
  return (
    <Layout>
      <Suspense fallback={<Loading />}>
        <Switch>
          <Route path="/servers" component={ServersPage} />
          <Route path="/servers/:name" component={ServerPage} />
          <Route path="/terminal" component={TerminalPage} />
          <Route path="/files/:server" component={FilesPage} />
          <Route path="/edit/:server" component={EditorPage} />
          <Route path="/work-sessions" component={WorkSessionsPage} />
          <Route path="/recordings" component={RecordingsPage} />
          <Route path="/recordings/:id" component={RecordingPage} />
          <Route path="/audit" component={AuditPage} />
          <Route path="/tokens" component={TokensPage} />
          <Route path="/security" component={SecurityPage} />
          <Route path="/admin" nest>
            <AdminPage />
          </Route>
          <Route path="/">
            <Redirect to="/servers" replace />
          </Route>
          <Route>
            <section>
              <h1>Not found</h1>
              <p>There is no page at {location}.</p>
            </section>
          </Route>
        </Switch>
      </Suspense>
    </Layout>
  );
}

export function App() {
  return (
    <SessionProvider>
      <Switch>
        <Route path="/login" component={LoginPage} />
        <Route>
          <SignedIn />
        </Route>
      </Switch>
    </SessionProvider>
  );
}
