import { Link, Redirect, Route, Switch, useLocation } from 'wouter';
import { isStaff, useMe } from '../api/session';
import { UsersSection } from './users';
import { GroupsSection } from './groups';
import { ServerGroupsSection } from './server-groups';
import { GrantsSection } from './grants';
import { PolicySection } from './policy';
import { ApplicationsSection } from './applications';
import { SsoSection } from './sso';
import { MfaPolicySection } from './mfa-policy';

const SECTIONS = [
  { path: '/users', title: 'Users' },
  { path: '/groups', title: 'User groups' },
  { path: '/server-groups', title: 'Server groups' },
  { path: '/grants', title: 'Grants' },
  { path: '/policy', title: 'Approval policy' },
  { path: '/applications', title: 'Applications' },
  { path: '/sso', title: 'Single sign-on' },
  { path: '/mfa', title: 'MFA policy' },
];

/** Administration (staff and superusers): nested routes under /admin. */
export default function AdminPage() {
  const me = useMe();
  const [location] = useLocation();
  if (!isStaff(me.user.role))
    return (
      <section>
        <h1>Administration</h1>
        <p className="error-box">Administration is for staff and superusers.</p>
      </section>
    );
  return (
    <section>
      <h1>Administration</h1>
      <nav aria-label="Administration" className="subnav">
        <ul>
          {SECTIONS.map((s) => (
            <li key={s.path}>
              <Link
                href={s.path}
                aria-current={location === s.path ? 'page' : undefined}
                className={location === s.path ? 'active' : undefined}
              >
                {s.title}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <Switch>
        <Route path="/users" component={UsersSection} />
        <Route path="/groups" component={GroupsSection} />
        <Route path="/server-groups" component={ServerGroupsSection} />
        <Route path="/grants" component={GrantsSection} />
        <Route path="/policy" component={PolicySection} />
        <Route path="/applications" component={ApplicationsSection} />
        <Route path="/sso" component={SsoSection} />
        <Route path="/mfa" component={MfaPolicySection} />
        <Route path="/tokens">
          <Redirect to="~/tokens" replace />
        </Route>
        <Route>
          <Redirect to="/users" replace />
        </Route>
      </Switch>
    </section>
  );
}
